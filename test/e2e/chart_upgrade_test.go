//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/test/bed"
	"github.com/pullguard/pullguard/webhook"
)

// chartTestDigest stands for a released image's digest: the bed runs no
// kubelet for the chart's Pods, so no image is pulled.
const chartTestDigest = "sha256:" + "5c5bb8f515329b803954a777998f087f359f3d08b1ab9b6d1cb819e61e7ab077"

// TestChartInstallUpgrade installs the chart with `helm install` on an API
// server of its own, beside a manual install (configurations named
// webhook.ConfigurationName) and a second release, then upgrades it from an
// older chart whose CRD lacks the short name ipol: the upgrade brings the
// CRD up to date, replaces the default ImagePolicy with the new values, and
// touches neither the other release nor the manual install. Uninstalling
// keeps the CRD (crds.keep).
func TestChartInstallUpgrade(t *testing.T) {
	t.Parallel()
	helmBin := helmBinary(t)
	c := startChartCluster(t)
	ctx := context.Background()
	h := func(t *testing.T, args ...string) string {
		t.Helper()
		return helm(t, helmBin, append(args, "--kubeconfig", c.api.Kubeconfig)...)
	}
	get := func(t *testing.T, kind, ns, name, path string) string {
		t.Helper()
		return jsonpathOn(t, c, kind, ns, name, path)
	}
	release := webhook.ReleaseConfigurationName(chartRelease, chartNamespace)

	// The manual install: configurations under the default name.
	manual := webhook.ConfigOptions{URL: "https://127.0.0.1:1"}
	for _, cfg := range []client.Object{webhook.MutatingConfiguration(manual), webhook.ValidatingConfiguration(manual)} {
		if err := c.api.Client.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}

	old := olderChart(t)
	base := []string{"--namespace", chartNamespace, "--set", "image.digest=" + chartTestDigest}
	t.Run("install", func(t *testing.T) {
		h(t, append([]string{"install", chartRelease, old}, base...)...)
		crd := "customresourcedefinition"
		if got := get(t, crd, "", "imagepolicies.pullguard.io", `{.metadata.annotations.helm\.sh/resource-policy}`); got != "keep" {
			t.Errorf("CRD resource-policy annotation %q, want keep", got)
		}
		if got := get(t, crd, "", "imagepolicies.pullguard.io", "{.spec.names.shortNames}"); got != "" {
			t.Fatalf("the older chart's CRD has short names %q, want none", got)
		}
		if got := get(t, "imagepolicy", "", "default", "{.spec.mode}"); got != "Enforce" {
			t.Errorf("default ImagePolicy mode %q after install, want Enforce", got)
		}
		for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
			if got := get(t, kind, "", release, "{.metadata.labels.app\\.kubernetes\\.io/managed-by}"); got != "Helm" {
				t.Errorf("%s %q managed by %q, want Helm", kind, release, got)
			}
		}
		args := get(t, "deployment", chartNamespace, chartRelease, "{.spec.template.spec.containers[0].args}")
		if !strings.Contains(args, "--webhook-configuration="+release) {
			t.Errorf("serve args %s do not name the release's configurations %q", args, release)
		}
	})

	// A release name holding the chart name is the full name of its objects.
	const otherNS, other = "team-guard", "pullguard-team"
	t.Run("second-release", func(t *testing.T) {
		if err := bed.CreateNamespace(ctx, c.api.Client, otherNS, nil); err != nil {
			t.Fatal(err)
		}
		// One CRD and one default policy per cluster: the first release owns them.
		h(t, "install", other, chartDir, "--namespace", otherNS, "--set", "image.digest="+chartTestDigest,
			"--set", "crds.enabled=false", "--set", "defaultPolicy.enabled=false")
		name := webhook.ReleaseConfigurationName(other, otherNS)
		if got := get(t, "validatingwebhookconfiguration", "", name, "{.webhooks[0].clientConfig.service.namespace}"); got != otherNS {
			t.Errorf("second release's configuration %q calls namespace %q, want %q", name, got, otherNS)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		before := get(t, "validatingwebhookconfiguration", "", webhook.ConfigurationName, "{.metadata.resourceVersion}")
		h(t, append([]string{"upgrade", chartRelease, chartDir}, append(base,
			"--set", "defaultPolicy.spec.mode=Audit", "--set", "replicaCount=3")...)...)
		// The CRD is the current chart's now, and the API server serves it.
		if got := get(t, "customresourcedefinition", "", "imagepolicies.pullguard.io", "{.spec.names.shortNames}"); got != `["ipol"]` {
			t.Errorf("CRD short names %q after the upgrade, want [\"ipol\"]", got)
		}
		r := c.kubectl(t, "", "get", "ipol", "default", "-o", "jsonpath={.spec.mode}")
		wantExit(t, r, 0)
		if got := strings.TrimSpace(r.Stdout); got != "Audit" {
			t.Errorf("default ImagePolicy mode %q after the upgrade, want Audit", got)
		}
		if got := get(t, "deployment", chartNamespace, chartRelease, "{.spec.replicas}"); got != "3" {
			t.Errorf("replicas %q after the upgrade, want 3", got)
		}
		if got := get(t, "validatingwebhookconfiguration", "", webhook.ConfigurationName, "{.metadata.resourceVersion}"); got != before {
			t.Errorf("the manual install's configuration changed in the upgrade (resourceVersion %s, was %s)", got, before)
		}
		history := h(t, "history", chartRelease, "--namespace", chartNamespace, "-o", "json")
		if !strings.Contains(history, `"revision":2`) || strings.Contains(history, `"status":"failed"`) {
			t.Errorf("helm history after the upgrade: %s", history)
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		h(t, "uninstall", chartRelease, "--namespace", chartNamespace)
		r := c.kubectl(t, "", "get", "validatingwebhookconfiguration", release)
		if r.Code == 0 {
			t.Errorf("the release's configuration %q outlived the uninstall", release)
		}
		for _, name := range []string{"imagepolicies.pullguard.io", "reports.openreports.io"} {
			wantExit(t, c.kubectl(t, "", "get", "customresourcedefinition", name), 0)
		}
		wantExit(t, c.kubectl(t, "", "get", "validatingwebhookconfiguration", webhook.ConfigurationName,
			webhook.ReleaseConfigurationName(other, otherNS)), 0)
	})
}

// olderChart is a copy of the chart as an older version whose CRD lacks
// the short name, to prove that an upgrade updates the CRD.
func olderChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pullguard")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	edit := func(rel, from, to string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), from) {
			t.Fatalf("%s does not contain %q", rel, from)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("files/crds/pullguard.io_imagepolicies.yaml", "    shortNames:\n    - ipol\n", "")
	edit("Chart.yaml", "\nversion: ", "\nversion: 0.0.1-older+")
	return dir
}
