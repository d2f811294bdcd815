//go:build e2e

package e2e

import (
	"strconv"
	"testing"
)

// TestAdmissionMetrics: pullguard_admission_requests_total says why each
// answer was given, so an update that changes no image (a label, a scale)
// counts as skipped, not as a pass; and controller-runtime's own webhook
// metrics, which the README points to for HTTP codes and requests in
// flight, are served beside pullguard's.
func TestAdmissionMetrics(t *testing.T) {
	t.Parallel()
	const name = "metrics-reasons"
	image := the.Public.Host + "/" + repoAPI + ":" + tagAPI
	wantExit(t, kubectl(t, deploymentYAML(t, nsApps, name, spec{image: image}), "apply", "-f", "-"), 0)
	t.Cleanup(func() { kubectl(t, "", "delete", "deployment", "-n", nsApps, name, "--wait=false") })
	wantExit(t, kubectl(t, "", "annotate", "deployment", "-n", nsApps, name, "e2e/touched=yes"), 0)

	for _, m := range []struct {
		series string
		min    float64 // the least count; 0 for a gauge that must only be there
	}{
		{`pullguard_admission_requests_total{allowed="true",endpoint="validate",kind="Deployment",reason="checked"}`, 1},
		{`pullguard_admission_requests_total{allowed="true",endpoint="validate",kind="Deployment",reason="no-new-image"}`, 1},
		{`controller_runtime_webhook_requests_total{code="200",webhook="/validate"}`, 1},
		{`controller_runtime_webhook_requests_in_flight{webhook="/validate"}`, 0},
	} {
		got := metricValue(t, the.Serve.MetricsURL, m.series)
		if v, err := strconv.ParseFloat(got, 64); err != nil || v < m.min {
			t.Errorf("/metrics: %s is %s, want at least %g", m.series, got, m.min)
		}
	}
}
