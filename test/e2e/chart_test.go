//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pullguard/pullguard/test/bed"
)

// Kinds of the chart's manifests, as kindKey spells them.
const (
	kindCRD                = "apiextensions.k8s.io/v1 CustomResourceDefinition"
	kindServiceAccount     = "v1 ServiceAccount"
	kindClusterRole        = "rbac.authorization.k8s.io/v1 ClusterRole"
	kindClusterRoleBinding = "rbac.authorization.k8s.io/v1 ClusterRoleBinding"
	kindRole               = "rbac.authorization.k8s.io/v1 Role"
	kindRoleBinding        = "rbac.authorization.k8s.io/v1 RoleBinding"
	kindImagePolicy        = "pullguard.io/v1alpha1 ImagePolicy"
	kindMutating           = "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration"
	kindValidating         = "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration"
	kindDeployment         = "apps/v1 Deployment"
)

// certManagerKinds are what the cert-manager render adds. The test API
// server has no cert-manager CRDs, so the dry run leaves exactly these
// kinds out: any other kind it does not know still fails the test.
var certManagerKinds = []string{"cert-manager.io/v1 Issuer", "cert-manager.io/v1 Certificate"}

// chartCluster is an API server of a chart test's own. The suite's serve
// writes every ImagePolicy's status with system:masters rights, so a status
// write by the chart's ServiceAccount could not be told from its; its
// webhooks would also judge the chart's objects, and a Helm release owns
// the one ImagePolicy CRD. Here the chart's objects are the only ones. It
// shares the suite's registries, CA and binaries.
type chartCluster struct {
	api *bed.APIServer
	k   bed.Kubectl
	dir string
}

func startChartCluster(t *testing.T) *chartCluster {
	t.Helper()
	dir := t.TempDir()
	// No CRDs: the test installs the chart's, first, as helm install does.
	api, err := bed.StartAPIServer(the.Binaries.Assets, "", filepath.Join(dir, "kubeconfig"))
	t.Cleanup(func() {
		if err := api.Stop(); err != nil {
			t.Errorf("stop the chart's API server: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// As `helm install --create-namespace`.
	if err := bed.CreateNamespace(context.Background(), api.Client, chartNamespace, nil); err != nil {
		t.Fatal(err)
	}
	return &chartCluster{api: api, dir: dir,
		k: bed.Kubectl{Bin: the.Binaries.Kubectl, Kubeconfig: api.Kubeconfig, Home: filepath.Join(dir, "home")}}
}

func (c *chartCluster) kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runKubectl(t, c.k, stdin, args...)
}

// serverSideApply applies objs with `kubectl apply --server-side` (plus
// flags) and fails unless kubectl applied every one of them.
func (c *chartCluster) serverSideApply(t *testing.T, objs []*unstructured.Unstructured, flags ...string) {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("nothing to apply")
	}
	r := c.kubectl(t, stream(t, objs), append([]string{"apply", "--server-side", "-f", "-"}, flags...)...)
	wantExit(t, r, 0)
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
		if err != nil {
			t.Fatal(err)
		}
		resource := strings.ToLower(o.GetKind())
		if gv.Group != "" {
			resource += "." + gv.Group
		}
		wantOutput(t, r, resource+"/"+o.GetName()+" serverside-applied")
	}
}

// TestChart proves the Helm chart against a real API server: its CRDs and
// every manifest of both certificate modes pass the API server's own
// validation (server-side dry run), and `pullguard serve`, run with the
// Deployment's flags under the rendered ServiceAccount's RBAC only, comes
// up and does all its work, while that RBAC denies what it must not need.
func TestChart(t *testing.T) {
	t.Parallel()
	helmBin := helmBinary(t)
	c := startChartCluster(t)

	ok := t.Run("crds-first", func(t *testing.T) {
		crds := renderChart(t, helmBin, "--show-only", "templates/crds.yaml")
		if in, out := split(crds, kindCRD); len(in) == 0 || len(out) != 0 {
			t.Fatalf("want only CRDs from templates/crds.yaml, got %d CRDs and %d others", len(in), len(out))
		}
		c.serverSideApply(t, crds, "--dry-run=server")
		c.serverSideApply(t, crds)
		r := c.kubectl(t, "", "wait", "--for=condition=Established", "--timeout=30s", "customresourcedefinitions", "--all")
		wantExit(t, r, 0)
	})
	if !ok {
		return
	}

	ok = t.Run("dry-run", func(t *testing.T) {
		type render struct {
			name  string
			flags []string
		}
		renders := []render{
			{name: "self-signed"},
			{name: "cert-manager", flags: []string{"--api-versions", "cert-manager.io/v1"}},
		}
		// The values make chart-lint checks, so their policies and
		// settings meet the schemas too.
		ciValues, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ciValues {
			renders = append(renders, render{name: "ci/" + filepath.Base(f), flags: []string{"-f", f}})
		}
		for _, tc := range renders {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				certManager, objs := split(renderChart(t, helmBin, tc.flags...), certManagerKinds...)
				deployments, _ := split(objs, kindDeployment)
				selfSigned := slices.Contains(serveArgs(t, deployments).list, "--self-signed")
				if selfSigned == (len(certManager) > 0) {
					t.Errorf("serve runs with --self-signed %t, and the render has %d cert-manager objects: want them exactly without it",
						selfSigned, len(certManager))
				}
				c.serverSideApply(t, objs, "--dry-run=server")
			})
		}
	})
	if !ok {
		return
	}

	t.Run("rbac", func(t *testing.T) { testChartRBAC(t, helmBin, c) })
}
