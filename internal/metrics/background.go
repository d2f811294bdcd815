package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/image"
)

// backgroundClasses are the class label's values of the background
// findings gauge: every finding class and the moved tag, each set (to 0
// when none) so an alert sees a finding go away.
var backgroundClasses = append(append([]image.Class(nil), image.Classes...), image.MovedTag)

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
	for _, c := range backgroundClasses {
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
