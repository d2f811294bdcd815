//go:build e2e

package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullBudgetWarning: a registry that states in Docker Hub's rate-limit
// headers that 3 of its 100 pulls are left (a TLS proxy in front of the
// bed's public registry adds them to manifest answers) gets a PullBudgetLow
// warning at admission under the built-in policy (10%), the pod is
// admitted, and the budget is on /metrics by host and credential kind.
func TestPullBudgetWarning(t *testing.T) {
	t.Parallel()
	host := budgetProxy(t, 100, 3)
	r := kubectl(t, podYAML(t, nsApps, "budget", spec{image: host + "/" + repoAPI + ":" + tagAPI}), "create", "--dry-run=server", "-f", "-")
	wantExit(t, r, 0)
	wantOutput(t, r, `Warning: pullguard: container "app"`, "registry pull budget nearly spent")
	t.Logf("%s", r.Output())

	series := fmt.Sprintf(`pullguard_registry_pull_budget_remaining{credential="anonymous",host=%q}`, host)
	if got := metricValue(t, the.Serve.MetricsURL, series); got != "3" {
		t.Errorf("/metrics: %s is %s, want 3", series, got)
	}
}

// budgetProxy serves the bed's public registry over TLS (the bed's CA) on
// another loopback port, stating a pull budget of limit with remaining
// left on every manifest answer, and returns its host.
func budgetProxy(t *testing.T, limit, remaining int) string {
	t.Helper()
	dir := t.TempDir()
	if err := the.CA.Serving(dir, "tls.crt", "tls.key"); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "https", Host: the.Public.Host}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: the.CA.Transport(),
		ModifyResponse: func(resp *http.Response) error {
			if strings.Contains(resp.Request.URL.Path, "/manifests/") {
				resp.Header.Set("ratelimit-limit", fmt.Sprintf("%d;w=21600", limit))
				resp.Header.Set("ratelimit-remaining", fmt.Sprintf("%d;w=21600", remaining))
			}
			return nil
		},
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}
