package resolve

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fakeLookup answers from a map, slowly, and records the peak concurrency.
type fakeLookup struct {
	answers  map[string]error
	inFlight atomic.Int32
	peak     atomic.Int32
	delay    time.Duration
}

func (f *fakeLookup) Resolve(ctx context.Context, req Request) (image.Facts, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	time.Sleep(f.delay)
	if err := f.answers[req.Ref.Original]; err != nil {
		return image.Facts{}, err
	}
	return image.Facts{ResolvedRepository: req.Ref.Original}, nil
}

func TestResolveAll(t *testing.T) {
	t.Parallel()
	f := &fakeLookup{delay: 10 * time.Millisecond, answers: map[string]error{
		"bad":   &image.Error{Class: image.NotFound, Image: "bad"},
		"plain": errors.New("boom"),
	}}
	var reqs []Request
	var want []string
	for i := range 20 {
		name := []string{"a", "bad", "plain", "b"}[i%4]
		reqs = append(reqs, Request{Ref: image.Reference{Original: name}})
		want = append(want, name)
	}
	out := ResolveAll(testContext(t), f, reqs)
	var got []string
	for _, o := range out {
		switch {
		case o.Err != nil:
			got = append(got, o.Err.Image)
			if o.Err.Image == "plain" && o.Err.Class != image.Unreachable {
				t.Errorf("a plain error became %s, want image.Unreachable", o.Err.Class)
			}
		default:
			got = append(got, o.Facts.ResolvedRepository)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes out of order (-want +got):\n%s", diff)
	}
	if p := f.peak.Load(); p < 2 || p > DefaultParallelism {
		t.Errorf("peak concurrency %d, want 2..%d", p, DefaultParallelism)
	}
}

func TestResolveAllAgainstRegistry(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	out := ResolveAll(testContext(t), New(), []Request{
		{Ref: reg.ref(t, "single:1.0")}, {Ref: reg.ref(t, "multi:nope")}, {Ref: reg.ref(t, "win:1.0")},
	})
	if out[0].Err != nil || out[2].Err != nil || out[1].Err == nil || out[1].Err.Class != image.NotFound {
		t.Fatalf("outcomes = %+v", out)
	}
	if diff := cmp.Diff([]v1.Platform{{OS: "windows", Architecture: "amd64"}}, out[2].Facts.Platforms); diff != "" {
		t.Errorf("win platforms (-want +got):\n%s", diff)
	}
}
