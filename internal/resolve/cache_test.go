package resolve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/image"
)

func TestCacheHitsMakeNoRequests(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New()
	ref := reg.ref(t, "multi:1.0")
	first, err := r.Resolve(testContext(t), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	before := reg.requests()
	second, err := r.Resolve(testContext(t), Request{Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.requests() - before; got != 0 {
		t.Errorf("a warm lookup made %d requests, want 0", got)
	}
	if first.Digest != second.Digest || len(second.Platforms) != 2 {
		t.Errorf("warm lookup = %+v, want %+v", second, first)
	}
	// Callers own what they get: changing it does not change the cache.
	second.Platforms[0].OS = "plan9"
	third, _ := r.Resolve(testContext(t), Request{Ref: ref})
	if third.Platforms[0].OS != "linux" {
		t.Errorf("cached platforms changed through a caller's copy: %+v", third.Platforms)
	}
}

func TestCacheKeepsOnlyNotFound(t *testing.T) {
	t.Parallel()
	const js = "application/json"
	tests := []struct {
		name    string
		wrap    func(http.Handler) http.Handler
		class   image.Class
		cached  bool
		ttlOpts []Option
	}{
		{"404 is kept", fault(404, js, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`), image.NotFound, true, nil},
		{"404 not kept with ttl 0", fault(404, js, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`), image.NotFound, false, []Option{WithNotFoundTTL(0)}},
		{"401 is not kept", fault(401, js, `{"errors":[{"code":"UNAUTHORIZED"}]}`), image.Unauthorized, false, nil},
		{"403 is not kept", fault(403, js, `{"errors":[{"code":"DENIED"}]}`), image.Forbidden, false, nil},
		{"429 is not kept", fault(429, js, `{"errors":[{"code":"TOOMANYREQUESTS"}]}`), image.RateLimited, false, nil},
		{"500 is not kept", fault(500, js, ""), image.Unreachable, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, tt.wrap)
			r := New(append(tt.ttlOpts, WithSuggestions(0, 0))...)
			ref := reg.ref(t, "multi@"+reg.fx.index.String())
			for i := range 2 {
				before := reg.requests()
				_, err := r.Resolve(testContext(t), Request{Ref: ref})
				var e *image.Error
				if !errors.As(err, &e) || e.Class != tt.class {
					t.Fatalf("lookup %d = %v, want %s", i, err, tt.class)
				}
				made := reg.requests() - before
				if i == 1 && tt.cached && made != 0 {
					t.Errorf("second lookup made %d requests, want 0 (kept)", made)
				}
				if i == 1 && !tt.cached && made == 0 {
					t.Errorf("second lookup made no request, want the failure not kept")
				}
			}
		})
	}
}

func TestCachedNotFoundNamesEachCallersImage(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New()
	for _, s := range []string{reg.host + "/multi:nope", reg.host + "/multi:nope"} {
		ref, err := image.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ref.Original = s + " " // as if written differently
		_, err = r.Resolve(testContext(t), Request{Ref: ref})
		var e *image.Error
		if !errors.As(err, &e) || e.Class != image.NotFound || e.Image != ref.Original {
			t.Fatalf("Resolve = %+v, want image.NotFound naming %q", err, ref.Original)
		}
	}
}

func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	t.Parallel()
	// The request count of one cold lookup, on a registry of its own.
	solo := newTestRegistry(t, nil)
	if _, err := New().Resolve(testContext(t), Request{Ref: solo.ref(t, "multi:1.0")}); err != nil {
		t.Fatal(err)
	}
	want := solo.requests()

	// Hold HEAD back until every caller is waiting on the flight.
	gate := make(chan struct{})
	reg := newTestRegistry(t, holdTags(gate))
	r := New()
	ref := reg.ref(t, "multi:1.0")
	const callers = 100
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range callers {
		wg.Go(func() {
			if _, err := r.Resolve(testContext(t), Request{Ref: ref}); err != nil {
				failed.Add(1)
			}
		})
	}
	// Every caller has asked once it counts as a miss (hit or joined flight).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, misses := r.tags.Stats(); misses == callers {
			break
		}
	}
	close(gate)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d lookups failed", failed.Load())
	}
	if got := reg.count("GET /v2/multi/manifests/1.0"); got != 1 {
		t.Errorf("%d concurrent lookups made %d requests for the tag, want 1", callers, got)
	}
	if got := reg.requests(); got != want {
		t.Errorf("%d concurrent lookups made %d requests, one lookup makes %d", callers, got, want)
	}
}

func TestWaiterCancellationDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	reg := newTestRegistry(t, holdTags(gate))
	r := New()
	ref := reg.ref(t, "multi:1.0")

	patient := make(chan error, 1)
	go func() {
		_, err := r.Resolve(testContext(t), Request{Ref: ref})
		patient <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, Request{Ref: ref})
		impatient <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, misses := r.tags.Stats(); misses == 2 {
			break
		}
	}
	cancel()
	err := <-impatient
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unreachable || !strings.Contains(e.Reason, "canceled") {
		t.Errorf("canceled caller got %v, want image.Unreachable (canceled)", err)
	}
	close(gate)
	if err := <-patient; err != nil {
		t.Errorf("the other caller failed: %v", err)
	}
}

// holdHeads keeps every HEAD request waiting until gate is closed, so tests
// can line callers up on one flight.
func holdTags(gate <-chan struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "sha256:") {
				<-gate
			}
			next.ServeHTTP(w, r)
		})
	}
}
