package resolve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// hangOrAnswer is a transport that, while hang is set, never answers (until
// the request's context ends), and else answers 200 at once.
type hangOrAnswer struct {
	hang atomic.Bool
	sent atomic.Int64
}

func (h *hangOrAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	h.sent.Add(1)
	if h.hang.Load() {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

// TestStallGuard: a request unanswered for the stall time is given up and
// stalls its host; then requests fail unsent but for a probe per probe
// interval, which waits only that long; the first answer ends the stall,
// and other hosts are never affected.
func TestStallGuard(t *testing.T) {
	t.Parallel()
	const after, probe = 200 * time.Millisecond, 100 * time.Millisecond
	next := &hangOrAnswer{}
	g := newStallGuard(next, after, probe)
	get := func(host string) (time.Duration, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+host+"/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := g.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return time.Since(start), err
	}
	stalledErr := func(err error, gaveUp bool) bool {
		var s *registryStalledError
		return errors.As(err, &s) && s.gaveUp == gaveUp
	}

	if _, err := get("reg"); err != nil {
		t.Fatalf("answering host: %v", err)
	}
	next.hang.Store(true)
	if took, err := get("reg"); !stalledErr(err, true) || took < after {
		t.Fatalf("hung host: %v after %s; want given up after %s", err, took, after)
	}
	sent := next.sent.Load()
	if took, err := get("reg"); !stalledErr(err, false) || took > after/4 {
		t.Fatalf("stalled host: %v after %s; want failed at once", err, took)
	}
	if next.sent.Load() != sent {
		t.Error("a request to the stalled host was sent")
	}
	time.Sleep(probe)
	if took, err := get("reg"); !stalledErr(err, true) || took < probe || took > after {
		t.Fatalf("probe: %v after %s; want given up after the probe interval", err, took)
	}
	next.hang.Store(false)
	if _, err := get("other"); err != nil {
		t.Fatalf("another host: %v", err)
	}
	if _, err := get("reg"); !stalledErr(err, false) {
		t.Fatalf("before the next probe: %v, want failed at once", err)
	}
	time.Sleep(probe)
	if _, err := get("reg"); err != nil {
		t.Fatalf("probe of the recovered host: %v", err)
	}
	if _, err := get("reg"); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}

// TestHungRegistryFailsFast: lookups of a registry that stopped answering
// end within the stall time (the first) or at once (those after), as
// Unreachable, instead of each waiting out its flight; once it answers a
// probe, lookups succeed again.
func TestHungRegistryFailsFast(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushIndex(t, "team/app:v1", linuxAMD64)
	r := New(WithStallAfter(300*time.Millisecond), WithTagTTL(time.Nanosecond), WithTagStaleness(0))
	ref, err := image.Parse(reg.Ref("team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	lookup := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := r.Resolve(ctx, Request{Ref: ref})
		return time.Since(start), err
	}
	if _, err := lookup(); err != nil {
		t.Fatal(err)
	}
	reg.Hang()
	if took, err := lookup(); classOf(err) != image.Unreachable || took > time.Second {
		t.Fatalf("first lookup of the hung registry: %v after %s; want Unreachable within the stall time", err, took)
	}
	took, err := lookup()
	if classOf(err) != image.Unreachable || took > 100*time.Millisecond || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("lookup of the stalled registry: %v after %s; want Unreachable at once", err, took)
	}
	reg.Resume()
	time.Sleep(DefaultStallProbe)
	if _, err := lookup(); err != nil {
		t.Fatalf("registry answers again, lookup: %v", err)
	}
}

// TestLookupsWaitingAreBounded: past the bound, lookups of a registry that
// keeps them all waiting fail at once instead of queueing; the bound is per
// registry, and frees as lookups end.
func TestLookupsWaitingAreBounded(t *testing.T) {
	t.Parallel()
	hung, other := registrytest.New(t), registrytest.New(t)
	hung.PushIndex(t, "team/app:v1", linuxAMD64)
	other.PushIndex(t, "team/app:v1", linuxAMD64)
	hung.Hang()
	r := New(WithMaxWaiting(2), WithStallAfter(time.Second))
	parse := func(s string) image.Reference {
		ref, err := image.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	ctx, cancel := context.WithTimeout(testContext(t), time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := r.Resolve(ctx, Request{Ref: parse(hung.Ref("team/app:v1"))})
			errs <- err
		}()
	}
	waitFor(t, func() bool { r.waitMu.Lock(); defer r.waitMu.Unlock(); return r.waiting[hung.Host] == 2 })
	start := time.Now()
	_, err := r.Resolve(ctx, Request{Ref: parse(hung.Ref("team/app:v1"))})
	if classOf(err) != image.Unreachable || !strings.Contains(err.Error(), "waiting") || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("third lookup: %v after %s; want Unreachable at once", err, time.Since(start))
	}
	if _, err := r.Resolve(ctx, Request{Ref: parse(other.Ref("team/app:v1"))}); err != nil {
		t.Fatalf("another registry: %v", err)
	}
	for range 2 {
		<-errs
	}
	waitFor(t, func() bool { r.waitMu.Lock(); defer r.waitMu.Unlock(); return len(r.waiting) == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
