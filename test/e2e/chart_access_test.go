//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/webhook"
)

// chartConfiguration names the rendered release's webhook configurations.
var chartConfiguration = webhook.ReleaseConfigurationName(chartRelease, chartNamespace)

// testChartAdmission: the chart's webhooks, served under the chart's RBAC,
// judge pods by the chart's default policy with the pull secrets they can
// read. With failurePolicy Fail, each admission below was answered by
// pullguard, not let through by an error.
func testChartAdmission(t *testing.T, c *chartCluster) {
	missing := pub(repoAPI, "v1.2.9")
	create := func(t *testing.T, name string, s spec) result {
		t.Helper()
		return c.kubectl(t, podYAML(t, chartNSApps, name, s), "create", "--dry-run=server", "-f", "-")
	}
	heading := func(name string) string {
		return fmt.Sprintf(`image policy "default" denies 1 image use of Pod/%s/%s:`, chartNSApps, name)
	}
	// The API server learns of the configurations and their caBundle a
	// moment after they change; until then calls fail (and so refuse).
	eventually(t, 30*time.Second, func() string {
		r := create(t, "probe", spec{image: missing})
		if r.Code == 1 && strings.Contains(r.Output(), deniedBy) {
			return ""
		}
		return fmt.Sprintf("want the probe denied by the webhook, got:\n%s", r)
	})

	tests := []struct {
		name   string
		spec   spec
		denied bool
		want   []string
	}{
		{name: "missing-tag", spec: spec{image: missing}, denied: true,
			want: []string{"[NotFound]", fmt.Sprintf("image %q not found", missing)}},
		{name: "private-without-secret", spec: spec{image: priv(repoBilling, tagBilling)}, denied: true,
			want: []string{"[Unauthorized]"}},
		// Secrets are read from the cluster-wide cache of pull secrets.
		{name: "secret-on-pod", spec: spec{image: priv(repoBilling, tagBilling), pullSecret: chartSecret}},
		// ServiceAccounts too.
		{name: "secret-on-service-account", spec: spec{image: priv(repoBilling, tagBilling), serviceAccount: chartSAPull}},
		{name: "multi-arch", spec: spec{image: pub(repoAPI, tagAPI)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := create(t, tc.name, tc.spec)
			if tc.denied {
				wantExit(t, r, 1)
				wantOutput(t, r, append([]string{deniedBy, heading(tc.name)}, tc.want...)...)
				return
			}
			wantExit(t, r, 0)
			wantOutput(t, r, fmt.Sprintf("pod/%s created (server dry run)", tc.name))
		})
	}
}

// testChartLeastPrivilege asks the API server what the chart's
// ServiceAccount may do (`kubectl auth can-i --as`): what serve needs,
// and a selection of what it must not be able to do.
func testChartLeastPrivilege(t *testing.T, c *chartCluster, user, tlsSecret string) {
	const leases = "leases.coordination.k8s.io"
	tests := []struct {
		args []string
		want string
	}{
		// Needed, and granted (so a "no" below is RBAC's answer, not a
		// broken question).
		{[]string{"list", "secrets", "--all-namespaces"}, "yes"},
		{[]string{"watch", "nodes"}, "yes"},
		{[]string{"update", "imagepolicies.pullguard.io", "--subresource=status"}, "yes"},
		{[]string{"patch", "mutatingwebhookconfigurations/" + chartConfiguration}, "yes"},
		{[]string{"update", "secrets/" + tlsSecret, "-n", chartNamespace}, "yes"},
		{[]string{"create", leases, "-n", chartNamespace}, "yes"},
		{[]string{"create", "events.events.k8s.io", "-n", "default"}, "yes"},
		// Background verification: it reads workloads and writes Events (and
		// its Reports, whose CRD this cluster lacks, so can-i cannot say).
		{[]string{"watch", "pods", "--all-namespaces"}, "yes"},
		{[]string{"list", "cronjobs.batch", "--all-namespaces"}, "yes"},
		{[]string{"create", "events.events.k8s.io", "-n", chartNSApps}, "yes"},
		{[]string{"get", "pods/log", "-n", chartNSApps}, "no"},
		{[]string{"delete", "jobs.batch", "-n", chartNSApps}, "no"},

		// Workloads: it judges them, never touches them.
		{[]string{"delete", "pods", "--all-namespaces"}, "no"},
		{[]string{"create", "pods", "-n", chartNSApps}, "no"},
		{[]string{"create", "pods/exec", "-n", chartNSApps}, "no"},
		{[]string{"update", "deployments.apps", "-n", chartNSApps}, "no"},
		{[]string{"update", "nodes"}, "no"},
		{[]string{"update", "serviceaccounts", "-n", chartNSApps}, "no"},
		// Secrets: beyond the cache's list and watch, only its own.
		{[]string{"get", "secrets/" + chartSecret, "-n", chartNSApps}, "no"},
		{[]string{"get", "secrets/" + tlsSecret, "-n", "kube-system"}, "no"},
		{[]string{"create", "secrets", "-n", chartNSApps}, "no"},
		{[]string{"update", "secrets/" + chartSecret, "-n", chartNSApps}, "no"},
		{[]string{"update", "secrets/other", "-n", chartNamespace}, "no"},
		{[]string{"delete", "secrets/" + tlsSecret, "-n", chartNamespace}, "no"},
		// Policies are the operator's: only their status is pullguard's.
		{[]string{"update", "imagepolicies.pullguard.io"}, "no"},
		{[]string{"delete", "imagepolicies.pullguard.io"}, "no"},
		{[]string{"create", "imagepolicies.pullguard.io"}, "no"},
		// Only its own webhook configurations, and only their caBundle.
		{[]string{"patch", "mutatingwebhookconfigurations/someone-else"}, "no"},
		{[]string{"patch", "validatingwebhookconfigurations/someone-else"}, "no"},
		{[]string{"create", "validatingwebhookconfigurations"}, "no"},
		{[]string{"delete", "mutatingwebhookconfigurations/" + chartConfiguration}, "no"},
		// Not the configurations of a manual install beside the chart.
		{[]string{"patch", "validatingwebhookconfigurations/" + webhook.ConfigurationName}, "no"},
		// Only its own lease, in its own namespace.
		{[]string{"update", leases + "/someone-else", "-n", chartNamespace}, "no"},
		{[]string{"create", leases, "-n", "kube-system"}, "no"},
		// Events: created and patched (on ImagePolicies in "default", on
		// workloads by background verification anywhere), never deleted.
		{[]string{"delete", "events.events.k8s.io", "-n", "default"}, "no"},
		{[]string{"delete", "events.events.k8s.io", "-n", chartNSApps}, "no"},
		// No way to more rights.
		{[]string{"create", "clusterroles"}, "no"},
		{[]string{"create", "rolebindings", "-n", chartNamespace}, "no"},
		{[]string{"escalate", "roles", "-n", chartNamespace}, "no"},
		{[]string{"impersonate", "serviceaccounts"}, "no"},
		{[]string{"create", "serviceaccounts/token", "-n", chartNamespace}, "no"},
		{[]string{"create", "customresourcedefinitions.apiextensions.k8s.io"}, "no"},
	}
	for _, tc := range tests {
		t.Run(tc.want+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := c.kubectl(t, "", append([]string{"auth", "can-i", "--as=" + user}, tc.args...)...)
			if got := strings.TrimSpace(r.Stdout); got != tc.want {
				t.Errorf("can %s %s? got %q, want %q\n%s", user, strings.Join(tc.args, " "), got, tc.want, r)
			}
		})
	}
}
