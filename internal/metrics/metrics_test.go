package metrics

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies"
)

func newMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// histogramCount is the sample count of the histogram name with labels, or 0.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, metric := range mf.GetMetric() {
			if hasLabels(metric, labels) {
				return metric.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestAdmissionAndFinding(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.Admission("Pod", "validate", true, "checked", 20*time.Millisecond)
	m.Admission("Pod", "validate", true, "checked", 30*time.Millisecond)
	m.Admission("Pod", "validate", true, "no-new-image", time.Millisecond)
	m.Admission("Deployment", "mutate", false, "checked", time.Second)
	m.Finding(image.NotFound, policies.Deny)
	m.Finding(image.NotFound, policies.Deny)
	m.Finding(image.RateLimited, policies.Warn)
	m.Finding("SomethingNew", "Shrug") // never a label value outside the closed sets

	want := `
# HELP pullguard_admission_requests_total Admission requests answered, by object kind, endpoint (mutate, validate), whether allowed, and reason (checked, or why the images were not: operation, subresource, no-pod-spec, no-new-image, nothing-to-mutate, unchecked, bad-review).
# TYPE pullguard_admission_requests_total counter
pullguard_admission_requests_total{allowed="false",endpoint="mutate",kind="Deployment",reason="checked"} 1
pullguard_admission_requests_total{allowed="true",endpoint="validate",kind="Pod",reason="checked"} 2
pullguard_admission_requests_total{allowed="true",endpoint="validate",kind="Pod",reason="no-new-image"} 1
# HELP pullguard_findings_total Findings decided, by finding class and the action the policy took.
# TYPE pullguard_findings_total counter
pullguard_findings_total{action="Deny",class="NotFound"} 2
pullguard_findings_total{action="Warn",class="RateLimited"} 1
pullguard_findings_total{action="other",class="other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"pullguard_admission_requests_total", "pullguard_findings_total"); err != nil {
		t.Error(err)
	}
	if got := histogramCount(t, reg, "pullguard_admission_duration_seconds",
		map[string]string{"kind": "Pod", "endpoint": "validate"}); got != 3 {
		t.Errorf("admission_duration_seconds{Pod,validate} count = %d, want 3", got)
	}
}

func TestLabelsAreBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record func(m *Metrics, i int)
		metric string
		limit  int
	}{
		{
			name: "kinds",
			record: func(m *Metrics, i int) {
				m.Admission("Kind"+strconv.Itoa(i), "validate", true, "checked", time.Millisecond)
			},
			metric: "pullguard_admission_requests_total",
			limit:  MaxKinds,
		},
		{
			name: "endpoints",
			record: func(m *Metrics, i int) {
				m.Admission("Pod", "/path"+strconv.Itoa(i), true, "checked", time.Millisecond)
			},
			metric: "pullguard_admission_requests_total",
			limit:  MaxEndpoints,
		},
		{
			name:   "reasons",
			record: func(m *Metrics, i int) { m.Admission("Pod", "validate", true, "why"+strconv.Itoa(i), time.Millisecond) },
			metric: "pullguard_admission_requests_total",
			limit:  MaxReasons,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, reg := newMetrics(t)
			for i := range tt.limit + 25 {
				tt.record(m, i)
				tt.record(m, i) // a value seen twice is one series
			}
			n, err := testutil.GatherAndCount(reg, tt.metric)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.limit+1 {
				t.Errorf("%d series of %s, want %d kept + other", n, tt.metric, tt.limit)
			}
		})
	}
}

func TestNewTwiceOnOneRegistryFails(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg); err == nil {
		t.Error("New on a registry that already holds the metrics = nil error, want already registered")
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) = nil error")
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.Admission("Pod", "validate", true, "checked", time.Second)
	m.Finding(image.NotFound, policies.Deny)
	if rt := m.Transport(nil); rt != nil {
		t.Errorf("nil.Transport(nil) = %v", rt)
	}
	if l := m.Lookup(nil); l != nil {
		t.Errorf("nil.Lookup(nil) = %v", l)
	}
	if err := m.ObserveCache(func() resolve.CacheStats { return resolve.CacheStats{} }); err != nil {
		t.Error(err)
	}
}
