package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
)

// background holds the gauges of background verification.
type background struct {
	findings    *prometheus.GaugeVec
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
}

func newBackground() *background {
	return &background{
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "background_findings",
			Help: "Workloads at risk found by background verification, by finding class: workloads with a container whose image has a finding of that class now.",
		}, []string{"class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "background_cycle_duration_seconds",
			Help:    "Time of one background verification cycle over every workload.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14), // 100ms .. ~27min
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "background_last_success_timestamp_seconds",
			Help: "Unix time the last background verification cycle finished without error.",
		}),
	}
}

func (b *background) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.findings, b.duration, b.lastSuccess}
}

// BackgroundFindings sets the workloads at risk per class; classes missing
// from workloads are set to 0, and classes outside the known set are
// counted under Other.
func (m *Metrics) BackgroundFindings(workloads map[image.Class]int) {
	if m == nil {
		return
	}
	values := map[string]float64{Other: 0}
	// Every class is set (to 0 when none), so an alert sees a finding go.
	for _, c := range knownClasses {
		values[string(c)] = 0
	}
	for c, n := range workloads {
		label := string(c)
		if _, ok := values[label]; !ok {
			label = Other
		}
		values[label] += float64(n)
	}
	for label, v := range values {
		m.bg.findings.WithLabelValues(label).Set(v)
	}
}

// BackgroundCycle records one full cycle.
func (m *Metrics) BackgroundCycle(d time.Duration, ok bool) {
	if m == nil {
		return
	}
	m.bg.duration.Observe(d.Seconds())
	if ok {
		m.bg.lastSuccess.SetToCurrentTime()
	}
}

// budget holds the gauges of registries' pull budgets.
type budget struct {
	remaining, limit *prometheus.GaugeVec
}

func newBudget() *budget {
	labels := []string{"host", "credential"}
	return &budget{
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "registry_pull_budget_remaining",
			Help: "Pulls left in the registry's window, as its last manifest response stated (ratelimit-remaining), by registry host (first 50, then other) and credential kind (anonymous, authenticated).",
		}, labels),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "registry_pull_budget_limit",
			Help: "Pulls the registry allows per window, as its last manifest response stated (ratelimit-limit), by registry host and credential kind.",
		}, labels),
	}
}

func (b *budget) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.remaining, b.limit}
}

// PullBudget records a registry's pull budget (resolve.Budgets' observer).
// The credential label is the kind, never the identity.
func (m *Metrics) PullBudget(b resolve.Budget) {
	if m == nil {
		return
	}
	host := m.hosts.value(b.Host)
	m.pullBudget.remaining.WithLabelValues(host, b.Kind()).Set(float64(b.Remaining))
	m.pullBudget.limit.WithLabelValues(host, b.Kind()).Set(float64(b.Limit))
}
