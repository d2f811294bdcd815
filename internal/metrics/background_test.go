package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
)

// TestBackgroundFindings: every known class is set, a class that went away
// drops to 0, and an unknown class folds into other.
func TestBackgroundFindings(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	m.BackgroundFindings(map[image.Class]int{image.NotFound: 2, image.MovedTag: 1, "Bogus": 3})
	m.BackgroundFindings(map[image.Class]int{image.NotFound: 1, "Bogus": 3})
	for class, want := range map[string]float64{"NotFound": 1, "MovedTag": 0, "Unauthorized": 0, Other: 3} {
		if got := testutil.ToFloat64(m.bg.findings.WithLabelValues(class)); got != want {
			t.Errorf("background_findings{class=%q} = %g, want %g", class, got, want)
		}
	}
	m.BackgroundCycle(time.Second, false)
	if got := testutil.ToFloat64(m.bg.lastSuccess); got != 0 {
		t.Errorf("a failed cycle set the last success time to %g", got)
	}
	m.BackgroundCycle(time.Second, true)
	if got := testutil.ToFloat64(m.bg.lastSuccess); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success %g, want about now", got)
	}
}

// TestPullBudget: a budget is a gauge per host and credential kind.
func TestPullBudget(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	m.PullBudget(resolve.Budget{Host: "docker.io", Limit: 100, Remaining: 7})
	m.PullBudget(resolve.Budget{Host: "docker.io", Authenticated: true, Limit: 200, Remaining: 150})
	for _, tc := range []struct {
		kind             string
		remaining, limit float64
	}{{"anonymous", 7, 100}, {"authenticated", 150, 200}} {
		if got := testutil.ToFloat64(m.pullBudget.remaining.WithLabelValues("docker.io", tc.kind)); got != tc.remaining {
			t.Errorf("%s remaining %g, want %g", tc.kind, got, tc.remaining)
		}
		if got := testutil.ToFloat64(m.pullBudget.limit.WithLabelValues("docker.io", tc.kind)); got != tc.limit {
			t.Errorf("%s limit %g, want %g", tc.kind, got, tc.limit)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.PullBudget(resolve.Budget{}) // records nothing, no panic
	nilMetrics.BackgroundFindings(nil)
	nilMetrics.BackgroundCycle(0, true)
}
