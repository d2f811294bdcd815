package metrics

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBuildInfo registers pullguard_build_info, a gauge of 1 labelled
// with the running build's version, commit and Go version, so dashboards
// and alerts can tell which release each replica runs (and a rollout's
// progress) without reading Pod specs. The labels are fixed for the
// process's life: one series per replica.
func RegisterBuildInfo(reg prometheus.Registerer, version, commit string) error {
	if reg == nil {
		return errors.New("metrics: no registerer given")
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "A metric with a constant 1 labelled with the version, commit and Go version pullguard was built from.",
		ConstLabels: prometheus.Labels{
			"version": version, "commit": commit, "goversion": runtime.Version(),
		},
	})
	info.Set(1)
	if err := reg.Register(info); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
