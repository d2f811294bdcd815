//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pullguard/pullguard/test/bed"
)

// The chart's RBAC test: a namespace the chart's webhooks select, with a
// pull secret on a pod and one on a service account.
const (
	chartNSApps   = "chart-apps"
	chartSecret   = "billing-pull"
	chartSAPull   = "billing"
	chartSASecret = "billing-pull-sa"
)

// inPodFlags are the Deployment's flags whose values only make sense in
// the Pod (paths of its volumes, its ports): bed.StartServe sets its own.
var inPodFlags = []string{"--cert-dir", "--port", "--metrics-bind-address", "--health-probe-bind-address"}

// chartServe is how the rendered Deployment runs pullguard.
type chartServe struct {
	// list is the container's args after "serve".
	list           []string
	serviceAccount string
}

// serveArgs reads the one Deployment among deployments.
func serveArgs(t *testing.T, deployments []*unstructured.Unstructured) chartServe {
	t.Helper()
	if len(deployments) != 1 {
		t.Fatalf("want 1 Deployment in the render, got %d", len(deployments))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deployments[0].Object, &d); err != nil {
		t.Fatal(err)
	}
	ps := d.Spec.Template.Spec
	if len(ps.Containers) != 1 || len(ps.Containers[0].Args) == 0 || ps.Containers[0].Args[0] != "serve" {
		t.Fatalf("want one container running serve, got %+v", ps.Containers)
	}
	return chartServe{list: ps.Containers[0].Args[1:], serviceAccount: ps.ServiceAccountName}
}

// flag is the value of --name=value, or "".
func (s chartServe) flag(name string) string {
	for _, a := range s.list {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// local is the Deployment's flags for a run outside the Pod: without
// inPodFlags, and with the lease namespace a Pod takes from its own.
func (s chartServe) local(t *testing.T, namespace string) []string {
	t.Helper()
	var out []string
	for _, a := range s.list {
		name, _, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") {
			t.Fatalf("serve argument %q is not a --flag", a)
		}
		inPod := false
		for _, f := range inPodFlags {
			if name == f {
				inPod = true
				if !hasValue {
					t.Fatalf("serve argument %q: want %s=value", a, f)
				}
			}
		}
		if !inPod {
			out = append(out, a)
		}
	}
	return append(out, "--leader-election-namespace="+namespace)
}

// testChartRBAC applies the rendered ServiceAccount, RBAC, default
// ImagePolicy and webhook configurations for real (self-signed mode), runs
// `pullguard serve` with the Deployment's flags through a kubeconfig that
// impersonates the ServiceAccount, and checks it does everything a
// replica does: syncs its caches (/readyz), bootstraps the certificate
// Secret and caBundle, wins the lease and writes policy status, and judges
// admissions with pull secrets and the chart's policy. failurePolicy is
// Fail here, so an admission that errs is refused instead of silently
// admitted.
func testChartRBAC(t *testing.T, helmBin string, c *chartCluster) {
	ctx := context.Background()
	objs := renderChart(t, helmBin,
		"--set", "webhook.failurePolicy=Fail", "--set", "registries.allowLoopback=true", "--set", "logLevel=debug")
	granted, rest := split(objs, kindServiceAccount, kindClusterRole, kindClusterRoleBinding, kindRole, kindRoleBinding, kindImagePolicy)
	configs, rest := split(rest, kindMutating, kindValidating)
	deployments, _ := split(rest, kindDeployment)
	serve := serveArgs(t, deployments)
	sas, _ := split(granted, kindServiceAccount)
	if len(sas) != 1 || sas[0].GetName() != serve.serviceAccount || sas[0].GetNamespace() != chartNamespace {
		t.Fatalf("want the Deployment's ServiceAccount %q rendered in %q, got %v", serve.serviceAccount, chartNamespace, sas)
	}
	if len(configs) != 2 {
		t.Fatalf("want 2 webhook configurations, got %d", len(configs))
	}
	user := fmt.Sprintf("system:serviceaccount:%s:%s", chartNamespace, serve.serviceAccount)
	tlsSecret := serve.flag("--self-signed-secret")
	if tlsSecret == "" {
		t.Fatalf("the self-signed Deployment passes no --self-signed-secret: %q", serve.list)
	}

	c.serverSideApply(t, granted)
	createChartApps(t, c.api)

	kubeconfig := filepath.Join(c.dir, "serviceaccount.kubeconfig")
	if err := bed.ImpersonatingKubeconfig(c.api.Kubeconfig, kubeconfig, user); err != nil {
		t.Fatal(err)
	}
	serveDir := filepath.Join(c.dir, "serve")
	if err := os.MkdirAll(serveDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := bed.StartServe(ctx, bed.ServeOptions{
		Bin: the.Binaries.Pullguard, Dir: serveDir, Kubeconfig: kubeconfig, CA: the.CA,
		SelfSignedNamespace: chartNamespace, Args: serve.local(t, chartNamespace),
	})
	if s != nil && s.Proc != nil {
		t.Cleanup(func() {
			s.Proc.Stop()
			if t.Failed() {
				t.Logf("pullguard serve as %s, log %s (last 30000 bytes):\n%s", user, s.Proc.Log, s.Proc.Tail(30000))
			}
		})
	}
	if err != nil {
		t.Fatalf("pullguard serve as %s: %v", user, err)
	}

	// The configurations are created after serve starts, as on an upgrade
	// that resets them: its watch of them (by name) sees it and patches.
	for _, cfg := range configs {
		pointAtURL(t, cfg, s.URL)
	}
	c.serverSideApply(t, configs)

	t.Run("certificate", func(t *testing.T) {
		if got := jsonpathOn(t, c, "secret", chartNamespace, tlsSecret, "{.type}"); got != string(corev1.SecretTypeTLS) {
			t.Fatalf("secret %q has type %q, want %q", tlsSecret, got, corev1.SecretTypeTLS)
		}
		ca := jsonpathOn(t, c, "secret", chartNamespace, tlsSecret, `{.data.ca\.crt}`)
		if ca == "" {
			t.Fatalf("secret %q has no ca.crt", tlsSecret)
		}
		eventually(t, 30*time.Second, func() string {
			for _, cfg := range configs {
				kind := strings.ToLower(cfg.GetKind())
				got := jsonpathOn(t, c, kind, "", cfg.GetName(), "{.webhooks[*].clientConfig.caBundle}")
				if got != ca {
					return fmt.Sprintf("%s %q caBundle is %.20q..., want the Secret's ca.crt %.20q...", kind, cfg.GetName(), got, ca)
				}
			}
			return ""
		})
	})

	t.Run("policy-status", func(t *testing.T) {
		policies, _ := split(granted, kindImagePolicy)
		if len(policies) != 1 {
			t.Fatalf("want the default ImagePolicy in the render, got %d", len(policies))
		}
		name := policies[0].GetName()
		// Only this serve runs against this API server: the condition is
		// its write, through the status subresource, as the leader.
		eventually(t, 30*time.Second, func() string {
			got := jsonpathOn(t, c, "imagepolicy", "", name,
				`{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].observedGeneration}/{.metadata.generation}`)
			if got != "True/1/1" {
				return fmt.Sprintf("imagepolicy %q Ready status/observedGeneration/generation is %q, want True/1/1", name, got)
			}
			return ""
		})
		// A catch-all below the default policy's priority is shadowed by
		// it: its Warning Event proves the Role for Events in "default".
		shadowed := "zz-shadowed"
		r := c.kubectl(t, "apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: "+shadowed+"}\nspec: {priority: -1}\n", "apply", "-f", "-")
		wantExit(t, r, 0)
		eventually(t, 30*time.Second, func() string {
			got := jsonpathOn(t, c, "events", "default", "",
				`{range .items[?(@.involvedObject.name=="`+shadowed+`")]}{.type} {.reason} {.message}{end}`)
			if want := fmt.Sprintf("Warning Shadowed policy %q (priority 0 > -1)", name); !strings.HasPrefix(got, want) {
				return fmt.Sprintf("events of imagepolicy %s: %q, want one starting %q", shadowed, got, want)
			}
			return ""
		})
		holder := jsonpathOn(t, c, "leases", chartNamespace, "", "{.items[*].spec.holderIdentity}")
		if holder == "" {
			t.Errorf("no lease in %q has a holder", chartNamespace)
		}
	})

	t.Run("admission", func(t *testing.T) { testChartAdmission(t, c) })

	t.Run("no-forbidden-in-log", func(t *testing.T) {
		data, err := os.ReadFile(s.Proc.Log)
		if err != nil {
			t.Fatal(err)
		}
		var refused []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(strings.ToLower(line), "forbidden") {
				refused = append(refused, line)
			}
		}
		// The first few say what is missing; the rest repeat it on retries.
		if len(refused) > 0 {
			t.Errorf("serve was refused %d times what its RBAC should grant; first:\n%s",
				len(refused), strings.Join(refused[:min(3, len(refused))], "\n"))
		}
	})

	t.Run("least-privilege", func(t *testing.T) { testChartLeastPrivilege(t, c, user, tlsSecret) })
}

// createChartApps makes the namespace the chart's webhooks judge, with a
// pull secret for the private registry on pods and another on a service
// account, and a node for the pods' platform.
func createChartApps(t *testing.T, api *bed.APIServer) {
	t.Helper()
	ctx := context.Background()
	c := api.Client
	if err := bed.CreateNamespace(ctx, c, chartNSApps, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{chartSecret, chartSASecret} {
		s, err := the.Private.PullSecret(chartNSApps, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: chartSAPull, Namespace: chartNSApps},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: chartSASecret}},
	}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := bed.CreateNode(ctx, c, "node-amd64", "amd64"); err != nil {
		t.Fatal(err)
	}
}

// jsonpathOn is `kubectl get -o jsonpath=...` on the chart's API server;
// name "" gets them all.
func jsonpathOn(t *testing.T, c *chartCluster, kind, ns, name, path string) string {
	t.Helper()
	return getJSONPath(t, c.k, kind, ns, name, path)
}
