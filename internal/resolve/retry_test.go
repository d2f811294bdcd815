package resolve

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/image"
)

func TestRetriesStayWithinTheDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		maxFlight time.Duration
		attempts  int
		within    time.Duration
	}{
		// Time to spare: three attempts, ~100 ms and ~200 ms apart.
		{"503 with time", http.StatusServiceUnavailable, 5 * time.Second, 3, 2 * time.Second},
		// Less than a sleep plus an attempt left: no retry at all.
		{"503 near the deadline", http.StatusServiceUnavailable, 400 * time.Millisecond, 1, 400 * time.Millisecond},
		// A rate limit is never retried.
		{"429", http.StatusTooManyRequests, 5 * time.Second, 1, time.Second},
		// Nor any other 4xx.
		{"403", http.StatusForbidden, 5 * time.Second, 1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, fault(tt.status, "application/json", `{"errors":[{"code":"UNKNOWN"}]}`))
			ref := reg.ref(t, "multi@"+reg.fx.index.String())
			start := time.Now()
			_, err := New(WithMaxFlight(tt.maxFlight)).Resolve(testContext(t), Request{Ref: ref})
			elapsed := time.Since(start)
			var e *image.Error
			if !errors.As(err, &e) || e.StatusCode != tt.status {
				t.Fatalf("Resolve = %v, want the %d answer", err, tt.status)
			}
			if got := reg.count("GET /v2/multi/manifests/" + reg.fx.index.String()); got != tt.attempts {
				t.Errorf("attempts = %d, want %d", got, tt.attempts)
			}
			if elapsed > tt.within {
				t.Errorf("took %s, want within %s", elapsed, tt.within)
			}
		})
	}
}

func TestTimeForRetry(t *testing.T) {
	t.Parallel()
	if !timeForRetry(context.Background()) {
		t.Error("no deadline: want a retry allowed")
	}
	short, cancel := context.WithTimeout(context.Background(), maxRetrySleep)
	defer cancel()
	if timeForRetry(short) {
		t.Error("deadline sooner than a sleep and an attempt: want no retry")
	}
	long, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if !timeForRetry(long) {
		t.Error("a minute left: want a retry allowed")
	}
}
