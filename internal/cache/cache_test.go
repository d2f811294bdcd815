package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable clock for expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newWithClock[V any](size int, maxFlight time.Duration) (*Cache[V], *fakeClock) {
	c := New[V](size, maxFlight)
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c.now = clk.Now
	return c, clk
}

// counter returns an fn that counts its calls and answers "v<n>" with ttl and err.
func counter(calls *atomic.Int32, ttl time.Duration, err error) func(context.Context) (string, time.Duration, error) {
	return func(context.Context) (string, time.Duration, error) {
		n := calls.Add(1)
		return "v" + strconv.Itoa(int(n)), ttl, err
	}
}

type result struct {
	Val string
	Hit bool
	Err string
}

func do(c *Cache[string], key string, fn func(context.Context) (string, time.Duration, error)) result {
	v, hit, err := c.Do(context.Background(), key, fn)
	r := result{Val: v, Hit: hit}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func TestDoKeepsByTTL(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		ttl     time.Duration
		err     error
		advance time.Duration // between the two calls
		want    []result
		calls   int32
	}{
		{
			name:  "kept value is a hit",
			ttl:   time.Minute,
			want:  []result{{Val: "v1"}, {Val: "v1", Hit: true}},
			calls: 1,
		},
		{
			name:    "value expires after ttl",
			ttl:     time.Minute,
			advance: time.Minute,
			want:    []result{{Val: "v1"}, {Val: "v2"}},
			calls:   2,
		},
		{
			name:    "value still live just before ttl",
			ttl:     time.Minute,
			advance: time.Minute - time.Nanosecond,
			want:    []result{{Val: "v1"}, {Val: "v1", Hit: true}},
			calls:   1,
		},
		{
			name:    "forever survives any wait",
			ttl:     Forever,
			advance: 100 * 365 * 24 * time.Hour,
			want:    []result{{Val: "v1"}, {Val: "v1", Hit: true}},
			calls:   1,
		},
		{
			name:  "zero ttl is not kept",
			ttl:   0,
			want:  []result{{Val: "v1"}, {Val: "v2"}},
			calls: 2,
		},
		{
			name:  "negative ttl is not kept",
			ttl:   -time.Second,
			want:  []result{{Val: "v1"}, {Val: "v2"}},
			calls: 2,
		},
		{
			name:  "error kept with ttl",
			ttl:   time.Second,
			err:   boom,
			want:  []result{{Val: "v1", Err: "boom"}, {Val: "v1", Hit: true, Err: "boom"}},
			calls: 1,
		},
		{
			name:  "error not kept without ttl",
			ttl:   0,
			err:   boom,
			want:  []result{{Val: "v1", Err: "boom"}, {Val: "v2", Err: "boom"}},
			calls: 2,
		},
		{
			name:    "kept error expires",
			ttl:     time.Second,
			err:     boom,
			advance: time.Second,
			want:    []result{{Val: "v1", Err: "boom"}, {Val: "v2", Err: "boom"}},
			calls:   2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, clk := newWithClock[string](8, time.Second)
			var calls atomic.Int32
			fn := counter(&calls, tt.ttl, tt.err)
			got := []result{do(c, "k", fn)}
			clk.Advance(tt.advance)
			got = append(got, do(c, "k", fn))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if n := calls.Load(); n != tt.calls {
				t.Errorf("fn called %d times, want %d", n, tt.calls)
			}
			var wantHits uint64
			for _, r := range tt.want {
				if r.Hit {
					wantHits++
				}
			}
			hits, misses := c.Stats()
			if hits != wantHits || misses != uint64(len(tt.want))-wantHits {
				t.Errorf("Stats() = %d hits, %d misses; want %d, %d", hits, misses, wantHits, uint64(len(tt.want))-wantHits)
			}
		})
	}
}

func TestKeysAreSeparate(t *testing.T) {
	t.Parallel()
	c := New[string](8, time.Second)
	for _, k := range []string{"a", "b", "a", "b"} {
		v, _, err := c.Do(context.Background(), k, func(context.Context) (string, time.Duration, error) {
			return "value of " + k, Forever, nil
		})
		if err != nil || v != "value of "+k {
			t.Errorf("Do(%q) = %q, %v; want %q", k, v, err, "value of "+k)
		}
	}
	if got := c.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

func TestLRUBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size, keys, want int
	}{
		{size: 3, keys: 10, want: 3},
		{size: 10, keys: 3, want: 3},
		{size: 0, keys: 5, want: 5}, // DefaultSize
		{size: -1, keys: 5, want: 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size %d keys %d", tt.size, tt.keys), func(t *testing.T) {
			t.Parallel()
			c := New[int](tt.size, time.Second)
			for i := range tt.keys {
				_, _, _ = c.Do(context.Background(), strconv.Itoa(i), func(context.Context) (int, time.Duration, error) {
					return i, Forever, nil
				})
			}
			if got := c.Len(); got != tt.want {
				t.Errorf("Len() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLRUEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := New[string](2, time.Second)
	var calls atomic.Int32
	fn := counter(&calls, Forever, nil)
	var got []result
	for _, k := range []string{"a", "b", "a", "c", "a", "b"} {
		got = append(got, do(c, k, fn))
	}
	// "c" evicts "b" (a was used more recently), so b is called again.
	want := []result{{Val: "v1"}, {Val: "v2"}, {Val: "v1", Hit: true}, {Val: "v3"}, {Val: "v1", Hit: true}, {Val: "v4"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	t.Parallel()
	const callers = 100
	c := New[string](8, 10*time.Second)
	var calls atomic.Int32
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(callers)
	fn := func(context.Context) (string, time.Duration, error) {
		calls.Add(1)
		<-release
		return "shared", time.Minute, nil
	}
	results := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			started.Done()
			results[i], _, errs[i] = c.Do(context.Background(), "k", fn)
		})
	}
	started.Wait()
	// Let the goroutines reach Do before the flight ends; if some are late
	// they hit the kept value, which still must not call fn again.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("fn called %d times, want 1", n)
	}
	for i := range callers {
		if results[i] != "shared" || errs[i] != nil {
			t.Errorf("caller %d got %q, %v; want %q, nil", i, results[i], errs[i], "shared")
		}
	}
	hits, misses := c.Stats()
	if hits+misses != callers {
		t.Errorf("Stats() = %d hits + %d misses, want %d in all", hits, misses, callers)
	}
}

type ctxKey struct{}

func TestCanceledWaiterDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	c := New[string](8, 10*time.Second)
	entered := make(chan struct{})
	release := make(chan struct{})
	fnErr := make(chan error, 1)
	fnValue := make(chan any, 1)
	fn := func(ctx context.Context) (string, time.Duration, error) {
		close(entered)
		<-release
		fnErr <- ctx.Err()
		fnValue <- ctx.Value(ctxKey{})
		return "done", time.Minute, nil
	}

	ctxA, cancelA := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "logger"))
	errA := make(chan error, 1)
	go func() {
		_, _, err := c.Do(ctxA, "k", fn)
		errA <- err
	}()
	<-entered
	type res struct {
		v   string
		err error
	}
	resB := make(chan res, 1)
	go func() {
		v, _, err := c.Do(context.Background(), "k", fn)
		resB <- res{v, err}
	}()

	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller got %v, want context.Canceled", err)
	}
	close(release)
	if r := <-resB; r.v != "done" || r.err != nil {
		t.Errorf("other caller got %q, %v; want %q, nil", r.v, r.err, "done")
	}
	if err := <-fnErr; err != nil {
		t.Errorf("fn's context ended with the caller's: %v", err)
	}
	if v := <-fnValue; v != "logger" {
		t.Errorf("fn's context lost the caller's values: got %v", v)
	}
	v, hit, err := c.Do(context.Background(), "k", fn)
	if v != "done" || !hit || err != nil {
		t.Errorf("later caller got %q, hit %v, %v; want kept %q", v, hit, err, "done")
	}
}

func TestCanceledBeforeDo(t *testing.T) {
	t.Parallel()
	c := New[string](8, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	_, _, err := c.Do(ctx, "k", counter(&calls, time.Minute, nil))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do() error = %v, want context.Canceled", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("fn called %d times for a caller already gone", n)
	}
}

func TestMaxFlightBoundsHangingFn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(ctx context.Context, hang chan struct{}) (string, time.Duration, error)
	}{
		{
			name: "fn honours its context",
			fn: func(ctx context.Context, _ chan struct{}) (string, time.Duration, error) {
				<-ctx.Done()
				return "", 0, ctx.Err()
			},
		},
		{
			name: "fn ignores its context",
			fn: func(_ context.Context, hang chan struct{}) (string, time.Duration, error) {
				<-hang
				return "late", time.Hour, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const maxFlight = 50 * time.Millisecond
			c := New[string](8, maxFlight)
			hang := make(chan struct{})
			defer close(hang)
			start := time.Now()
			_, _, err := c.Do(context.Background(), "k", func(ctx context.Context) (string, time.Duration, error) {
				return tt.fn(ctx, hang)
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Do() error = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Do() took %s with maxFlight %s", d, maxFlight)
			}
			// The key is free again: a new flight runs.
			v, hit, err := c.Do(context.Background(), "k", func(context.Context) (string, time.Duration, error) {
				return "fresh", time.Minute, nil
			})
			if v != "fresh" || hit || err != nil {
				t.Errorf("next Do() = %q, hit %v, %v; want a fresh call", v, hit, err)
			}
		})
	}
}

func TestPanicBecomesErrorForEveryWaiter(t *testing.T) {
	t.Parallel()
	c := New[string](8, 10*time.Second)
	entered := make(chan struct{})
	var enterOnce sync.Once
	release := make(chan struct{})
	fn := func(context.Context) (string, time.Duration, error) {
		// Once: should the second caller come late, it runs its own flight,
		// which must panic the same way.
		enterOnce.Do(func() { close(entered) })
		<-release
		panic("registry client bug")
	}
	errs := make(chan error, 2)
	go func() {
		_, _, err := c.Do(context.Background(), "k", fn)
		errs <- err
	}()
	<-entered
	go func() {
		_, _, err := c.Do(context.Background(), "k", fn)
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second caller join the flight
	close(release)
	for range 2 {
		err := <-errs
		var pe *PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("Do() error = %v, want *PanicError", err)
		}
		if pe.Key != "k" || pe.Value != "registry client bug" || len(pe.Stack) == 0 {
			t.Errorf("PanicError = key %q value %v stack %d bytes", pe.Key, pe.Value, len(pe.Stack))
		}
	}
	if c.Len() != 0 {
		t.Errorf("a panic was kept: Len() = %d", c.Len())
	}
}

func TestInterfaceValueNil(t *testing.T) {
	t.Parallel()
	// A nil interface result must come back as nil, not panic a type assertion.
	c := New[error](8, time.Second)
	v, _, err := c.Do(context.Background(), "k", func(context.Context) (error, time.Duration, error) {
		return nil, time.Minute, nil
	})
	if v != nil || err != nil {
		t.Errorf("Do() = %v, %v; want nil, nil", v, err)
	}
}

func BenchmarkWarmHit(b *testing.B) {
	c := New[string](1024, time.Second)
	ctx := context.Background()
	fn := func(context.Context) (string, time.Duration, error) { return "v", Forever, nil }
	if _, _, err := c.Do(ctx, "k", fn); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, hit, _ := c.Do(ctx, "k", fn); !hit {
				b.Error("warm call missed")
				return
			}
		}
	})
}

// TestDoStale: an expired success is served at once within the grace,
// while one background flight refreshes it; a refresh that fails keeps it
// served (until the grace ends); a refresh that is kept replaces it.
func TestDoStale(t *testing.T) {
	t.Parallel()
	c := New[string](8, time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	var calls atomic.Int32
	answer := func(v string, ttl time.Duration, err error) func(context.Context) (string, time.Duration, error) {
		return func(context.Context) (string, time.Duration, error) {
			calls.Add(1)
			return v, ttl, err
		}
	}
	if v, stale, err := c.DoStale(ctx, "k", time.Minute, answer("v1", time.Second, nil)); v != "v1" || stale || err != nil {
		t.Fatalf("cold: %q %v %v", v, stale, err)
	}
	now = now.Add(2 * time.Second) // expired a second ago
	refreshed := make(chan struct{})
	failing := func(context.Context) (string, time.Duration, error) {
		defer close(refreshed)
		calls.Add(1)
		return "", 0, errors.New("registry down")
	}
	if v, stale, err := c.DoStale(ctx, "k", time.Minute, failing); v != "v1" || !stale || err != nil {
		t.Fatalf("expired within grace: %q %v %v, want v1 served stale", v, stale, err)
	}
	<-refreshed
	waitFlights(t, c, "k")
	if v, stale, _ := c.DoStale(ctx, "k", time.Minute, answer("v2", time.Second, nil)); v != "v1" || !stale {
		t.Fatalf("after a failed refresh: %q %v, want v1 still", v, stale)
	}
	waitFlights(t, c, "k")
	if v, stale, err := c.DoStale(ctx, "k", time.Minute, answer("v3", time.Second, nil)); v != "v2" || stale || err != nil {
		t.Fatalf("after a kept refresh: %q %v %v, want v2 live", v, stale, err)
	}
	now = now.Add(2 * time.Minute) // past the grace
	if v, stale, _ := c.DoStale(ctx, "k", time.Minute, answer("v4", time.Second, nil)); v != "v4" || stale {
		t.Fatalf("past the grace: %q %v, want a fresh v4", v, stale)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("%d calls, want 4 (cold, failed refresh, refresh, past grace)", got)
	}
}

// waitFlights waits until no flight of key is under way.
func waitFlights(t *testing.T, c *Cache[string], key string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.flights.Do(key, func() (any, error) { return nil, nil }) // queues behind a running flight
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a flight of the key did not end")
	}
}

func TestPutKeepsByTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ttl     time.Duration
		advance time.Duration
		want    bool
	}{
		{name: "live", ttl: time.Minute, advance: 59 * time.Second, want: true},
		{name: "expired", ttl: time.Minute, advance: time.Minute, want: false},
		{name: "forever", ttl: Forever, advance: 1000 * time.Hour, want: true},
		{name: "zero removes", ttl: 0, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, clk := newWithClock[string](4, 0)
			c.Put("k", "old", Forever)
			c.Put("k", "v", tt.ttl)
			clk.Advance(tt.advance)
			got, ok := c.Get("k")
			if ok != tt.want || (ok && got != "v") {
				t.Errorf("Get = %q, %t; want v, %t", got, ok, tt.want)
			}
			if _, ok := c.Get("other"); ok {
				t.Error("Get of a key never put found a value")
			}
			if h, m := c.Stats(); h+m != 0 {
				t.Errorf("Get counted %d hits, %d misses; want none", h, m)
			}
		})
	}
}
