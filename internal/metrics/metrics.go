// Package metrics holds pullguard's Prometheus metrics: admissions, findings,
// registry requests and pull budgets, resolver cache lookups, resolutions in
// flight, and background verification (workloads at risk, cycles). The
// server registers them on controller-runtime's metrics.Registry, so they are
// served on the manager's metrics endpoint next to controller-runtime's own.
//
// Every label is bounded (STYLE habit 8): finding classes and actions are
// closed sets, and values that come from requests (the object's kind, the
// registry host) keep the first few distinct values seen and fold the rest
// into "other". No label ever carries an image reference.
package metrics

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies"
)

// Namespace prefixes every metric name.
const Namespace = "pullguard"

// Other is the label value for everything past a label's bound.
const Other = "other"

// Bounds of the labels whose values come from requests.
const (
	// MaxKinds: the webhooks' rules name about ten kinds; anything else
	// reached the endpoint some other way.
	MaxKinds = 20
	// MaxEndpoints: the mutating and the validating endpoint, with room.
	MaxEndpoints = 4
	// MaxHosts: registry hosts are user input (any pod may name any host).
	MaxHosts = 50
	// MaxReasons: the webhook's eight reasons (webhook.Reasons), with room.
	MaxReasons = 12
)

// Metrics records what pullguard does. It implements the webhook's Recorder.
// A nil *Metrics records nothing. Safe for concurrent use.
type Metrics struct {
	reg prometheus.Registerer

	admissions        *prometheus.CounterVec
	admissionDuration *prometheus.HistogramVec
	findings          *prometheus.CounterVec
	registryDuration  *prometheus.HistogramVec
	inFlight          prometheus.Gauge

	bg         *background
	pullBudget *budget

	kinds, endpoints, hosts, reasons *bounded
}

// New creates pullguard's metrics and registers them on reg
// (controller-runtime's metrics.Registry in the server, a fresh
// prometheus.NewRegistry in tests).
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: no registerer given")
	}
	m := &Metrics{
		reg: reg,
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "admission_requests_total",
			Help: "Admission requests answered, by object kind, endpoint (mutate, validate), whether allowed, and reason (checked, or why the images were not: operation, subresource, no-pod-spec, no-new-image, nothing-to-mutate, unchecked, bad-review).",
		}, []string{"kind", "endpoint", "allowed", "reason"}),
		admissionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "admission_duration_seconds",
			Help:    "Time to answer an admission request, by object kind and endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13), // 5ms .. ~20s
		}, []string{"kind", "endpoint"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "findings_total",
			Help: "Findings decided, by finding class and the action the policy took.",
		}, []string{"class", "action"}),
		registryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "registry_request_duration_seconds",
			Help:    "Time to a registry's response headers, by registry host (first 50, then other) and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12), // 10ms .. ~20s
		}, []string{"host", "outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "resolutions_in_flight",
			Help: "Image resolutions under way (cache hits included, while they last).",
		}),
		kinds:      newBounded(MaxKinds),
		endpoints:  newBounded(MaxEndpoints),
		hosts:      newBounded(MaxHosts),
		reasons:    newBounded(MaxReasons),
		bg:         newBackground(),
		pullBudget: newBudget(),
	}
	collectors := []prometheus.Collector{m.admissions, m.admissionDuration, m.findings, m.registryDuration, m.inFlight}
	collectors = append(append(collectors, m.bg.collectors()...), m.pullBudget.collectors()...)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Admission records one answered admission request and the reason of its
// answer (webhook.Reason).
func (m *Metrics) Admission(kind, endpoint string, allowed bool, reason string, d time.Duration) {
	if m == nil {
		return
	}
	kind, endpoint = m.kinds.value(kind), m.endpoints.value(endpoint)
	m.admissions.WithLabelValues(kind, endpoint, strconv.FormatBool(allowed), m.reasons.value(reason)).Inc()
	m.admissionDuration.WithLabelValues(kind, endpoint).Observe(d.Seconds())
}

// Finding records one finding and the action the policy took on it.
func (m *Metrics) Finding(class image.Class, action policies.Action) {
	if m == nil {
		return
	}
	m.findings.WithLabelValues(classLabel(class), actionLabel(action)).Inc()
}

// knownClasses are the class label's values: every class a policy
// configures, and the warnings no policy configures (a moved tag, a pull
// budget nearly spent).
var knownClasses = append(slices.Clone(image.Classes), image.MovedTag, image.PullBudgetLow)

// classLabel keeps the class label to the closed set of knownClasses.
func classLabel(c image.Class) string {
	if slices.Contains(knownClasses, c) {
		return string(c)
	}
	return Other
}

func actionLabel(a policies.Action) string {
	switch a {
	case policies.Deny, policies.Warn, policies.Audit:
		return string(a)
	}
	return Other
}
