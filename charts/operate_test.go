package charts_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/internal/metrics"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/webhook"
)

// clusterScoped are the kinds whose names must not collide between releases.
var clusterScoped = []string{"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}

// TestReleasesDoNotCollide renders two releases, one of them of the same
// name in another namespace, and checks that no cluster-scoped object of
// one has the name of another's or of a manual install's configurations
// (webhook.ConfigurationName), and that self-signed serve patches its own.
func TestReleasesDoNotCollide(t *testing.T) {
	t.Parallel()
	type release struct{ name, namespace string }
	releases := []release{{"pullguard", "pullguard-system"}, {"pullguard", "team-a"}, {"guard", "pullguard-system"}}
	// A configuration name is shared by its two kinds, so they count as one.
	owner := map[string]release{"configuration/" + webhook.ConfigurationName: {"manual install", ""}}
	for _, rel := range releases {
		out, err := runHelmTemplateAs(t, rel.name, rel.namespace)
		if err != nil {
			t.Fatal(err)
		}
		r := parseRendered(t, out)
		for _, kind := range clusterScoped {
			for _, o := range r.byKind(kind) {
				key := kind + "/" + o.GetName()
				if strings.HasSuffix(kind, "WebhookConfiguration") {
					key = "configuration/" + o.GetName()
				}
				if prev, ok := owner[key]; ok && prev != rel {
					t.Errorf("release %v renders %s, already %v's", rel, key, prev)
				}
				owner[key] = rel
			}
		}
		args := r.deployment.Spec.Template.Spec.Containers[0].Args
		want := "--webhook-configuration=" + r.mutating.Name
		if r.mutating.Name != r.validating.Name || !slices.Contains(args, want) {
			t.Errorf("release %v: configurations %q and %q, serve args %q: want both named as serve's %s",
				rel, r.mutating.Name, r.validating.Name, args, want)
		}
	}
}

func runHelmTemplateAs(t *testing.T, name, ns string, args ...string) (string, error) {
	t.Helper()
	helm := helmBinary(t)
	return runHelm(helm, append([]string{"template", name, chartDir, "--namespace", ns}, withDigest(args)...)...)
}

func TestServiceAccountValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantSA     string
		wantCreate bool
		wantErr    string
	}{
		{name: "created, named after the release", wantSA: release, wantCreate: true},
		{name: "created with a name", args: []string{"--set", "serviceAccount.name=guard-sa"}, wantSA: "guard-sa", wantCreate: true},
		{name: "brought along", args: []string{"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=platform-sa"}, wantSA: "platform-sa"},
		{name: "brought along without a name", args: []string{"--set", "serviceAccount.create=false"},
			wantErr: "serviceAccount.name is required when serviceAccount.create is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.wantErr != "" {
				_, err := runHelmTemplate(t, tt.args...)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("helm template %q: error %v, want one saying %q", tt.args, err, tt.wantErr)
				}
				return
			}
			r := helmTemplate(t, tt.args...)
			if got := r.deployment.Spec.Template.Spec.ServiceAccountName; got != tt.wantSA {
				t.Errorf("Deployment runs as %q, want %q", got, tt.wantSA)
			}
			var created []string
			for _, sa := range r.byKind("ServiceAccount") {
				created = append(created, sa.GetName())
			}
			if want := map[bool][]string{true: {tt.wantSA}}[tt.wantCreate]; !slices.Equal(created, want) {
				t.Errorf("ServiceAccounts rendered %q, want %q", created, want)
			}
			for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
				for _, b := range r.byKind(kind) {
					subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
					if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != tt.wantSA {
						t.Errorf("%s %q binds %v, want ServiceAccount %q", kind, b.GetName(), subjects, tt.wantSA)
					}
				}
			}
		})
	}
}

// TestCRDValues: the CRD is a template (so upgrades update it), equal to the
// generated one apart from the chart's labels and the keep annotation.
func TestCRDValues(t *testing.T) {
	t.Parallel()
	generated, err := os.ReadFile(filepath.Join("..", "policies", "crd", "pullguard.io_imagepolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(generated, &want); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCRD  bool
		wantKeep bool
	}{
		{name: "defaults", wantCRD: true, wantKeep: true},
		{name: "not kept", args: []string{"--set", "crds.keep=false"}, wantCRD: true},
		{name: "managed elsewhere", args: []string{"--set", "crds.enabled=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The ImagePolicy CRD; the OpenReports one is reports.installCRDs'.
			crds := slices.DeleteFunc(helmTemplate(t, tt.args...).byKind("CustomResourceDefinition"),
				func(u *unstructured.Unstructured) bool { return u.GetName() != "imagepolicies.pullguard.io" })
			if len(crds) != map[bool]int{true: 1}[tt.wantCRD] {
				t.Fatalf("rendered %d CRDs, want the CRD %v", len(crds), tt.wantCRD)
			}
			if !tt.wantCRD {
				return
			}
			crd := crds[0]
			const keep = "helm.sh/resource-policy"
			if got := crd.GetAnnotations()[keep]; (got == "keep") != tt.wantKeep {
				t.Errorf("annotation %s = %q, want keep %v", keep, got, tt.wantKeep)
			}
			if crd.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
				t.Errorf("CRD labels %v lack the chart's", crd.GetLabels())
			}
			if diff := cmp.Diff(want["spec"], crd.Object["spec"]); diff != "" {
				t.Errorf("rendered CRD spec differs from policies/crd (-generated +chart):\n%s", diff)
			}
		})
	}
}

// monitoringArgs turns every optional operations object on.
var monitoringArgs = []string{
	"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
	"--set", "metrics.grafanaDashboard.enabled=true", "--set", "networkPolicy.enabled=true",
}

func TestOptionalObjects(t *testing.T) {
	t.Parallel()
	optional := []string{"ServiceMonitor", "PrometheusRule", "ConfigMap", "NetworkPolicy"}
	for _, k := range optional {
		if n := len(helmTemplate(t).byKind(k)); n != 0 {
			t.Errorf("the defaults render %d %s, want none", n, k)
		}
	}
	r := helmTemplate(t, monitoringArgs...)
	for _, k := range optional {
		if n := len(r.byKind(k)); n != 1 {
			t.Errorf("with every option on, %d %s rendered, want 1", n, k)
		}
	}
	// The ServiceMonitor and the NetworkPolicy name the container's ports.
	var ports []string
	for _, p := range r.deployment.Spec.Template.Spec.Containers[0].Ports {
		ports = append(ports, p.Name)
	}
	sm := r.byKind("ServiceMonitor")[0]
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("ServiceMonitor endpoints %v, want the Service's metrics port", endpoints)
	}
	np := r.byKind("NetworkPolicy")[0]
	ingress, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	var admitted []string
	for _, rule := range ingress {
		for _, p := range rule.(map[string]any)["ports"].([]any) {
			admitted = append(admitted, p.(map[string]any)["port"].(string))
		}
	}
	if want := []string{"webhook", "metrics"}; !slices.Equal(admitted, want) {
		t.Errorf("NetworkPolicy admits ports %q, want %q (container ports %q)", admitted, want, ports)
	}
	for _, p := range admitted {
		if !slices.Contains(ports, p) {
			t.Errorf("NetworkPolicy admits port %q, which the container does not name (%q)", p, ports)
		}
	}
	cm := r.byKind("ConfigMap")[0]
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard: \"1\"", cm.GetLabels())
	}
}

// apiServerMetrics are the kube-apiserver metrics the alerts and the
// dashboard read (k8s.io/apiserver/pkg/admission/metrics).
var apiServerMetrics = []string{
	"apiserver_admission_webhook_fail_open_count",
	"apiserver_admission_webhook_rejection_count",
	"apiserver_admission_webhook_admission_duration_seconds_bucket",
}

var (
	metricName = regexp.MustCompile(`\b(pullguard|apiserver|up)(_[a-z_]+)?\b`)
	// quoted are label values, which may look like names.
	quoted = regexp.MustCompile(`"[^"]*"`)
)

// TestAlertsAndDashboardNameRealMetrics fails when an alert or a dashboard
// panel reads a metric pullguard does not serve (a rename would otherwise
// leave a rule that never fires), and when an alert the issue asks for is
// missing.
func TestAlertsAndDashboardNameRealMetrics(t *testing.T) {
	t.Parallel()
	served := servedMetrics(t)
	r := helmTemplate(t, monitoringArgs...)

	rule := r.byKind("PrometheusRule")[0]
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var exprs, alerts []string
	for _, g := range groups {
		for _, rl := range g.(map[string]any)["rules"].([]any) {
			m := rl.(map[string]any)
			alerts = append(alerts, m["alert"].(string))
			exprs = append(exprs, m["expr"].(string))
		}
	}
	for _, want := range []string{"PullguardDown", "PullguardAdmissionSlow", "PullguardRegistryFailing", "PullguardDenialsSpike",
		"PullguardWebhookFailingOpen", "PullguardWebhookRejected", "PullguardAdmittingUnchecked",
		"PullguardWorkloadsAtRisk", "PullguardBackgroundStalled", "PullguardPullBudgetLow"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("PrometheusRule lacks alert %s (has %q)", want, alerts)
		}
	}

	cm := r.byKind("ConfigMap")[0]
	data, _, _ := unstructured.NestedString(cm.Object, "data", "pullguard.json")
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(data), &dashboard); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if len(dashboard.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(quoted.ReplaceAllString(e, `""`), -1) {
			if !slices.Contains(served, name) && !slices.Contains(apiServerMetrics, name) {
				t.Errorf("expression %q reads %s, which neither pullguard nor the API server serves", e, name)
			}
		}
	}
}

// servedMetrics are the series names pullguard's registry can expose,
// histograms with their _bucket, _count and _sum.
func servedMetrics(t *testing.T) []string {
	t.Helper()
	rec := &describing{}
	m, err := metrics.New(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveCache(func() resolve.CacheStats { return resolve.CacheStats{} }); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterBuildInfo(rec, "v0.0.0", "test"); err != nil {
		t.Fatal(err)
	}
	names := []string{"up"}
	for _, n := range rec.names {
		names = append(names, n, n+"_bucket", n+"_count", n+"_sum")
	}
	return names
}

// describing is a Registerer that records the names of what is registered.
type describing struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describing) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}

func (d *describing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d *describing) Unregister(prometheus.Collector) bool { return true }
