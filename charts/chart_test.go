// Package charts_test keeps the Helm chart in step with the code it deploys:
// the CRD it ships is the generated one, its webhook configurations are the
// ones webhook/config.go declares, and every flag it passes to
// `pullguard serve` exists.
package charts_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/cmd/pullguard/app"
	"github.com/pullguard/pullguard/internal/credentialprovider"
	"github.com/pullguard/pullguard/internal/nodehosts"
	"github.com/pullguard/pullguard/webhook"
)

const (
	chartDir  = "pullguard"
	release   = "pullguard"
	namespace = "pullguard-system"
	// testDigest stands for a release's image digest (the source chart has
	// none): the Makefile's CHART_TEST_DIGEST.
	testDigest = "sha256:5c5bb8f515329b803954a777998f087f359f3d08b1ab9b6d1cb819e61e7ab077"
)

// withDigest puts the stand-in digest before args (which may override it).
func withDigest(args []string) []string {
	return append([]string{"--set", "image.digest=" + testDigest}, args...)
}

// TestCRDsMatchGenerated fails when charts/pullguard/files/crds drifts from the
// CRDs controller-gen writes to policies/crd: copy them over after `make generate`.
func TestCRDsMatchGenerated(t *testing.T) {
	t.Parallel()
	generated := readYAMLDir(t, filepath.Join("..", "policies", "crd"))
	shipped := readYAMLDir(t, filepath.Join(chartDir, "files", "crds"))
	if len(generated) == 0 {
		t.Fatal("no CRDs in policies/crd")
	}
	if diff := cmp.Diff(generated, shipped); diff != "" {
		t.Errorf("charts/pullguard/files/crds differs from policies/crd (-generated +chart); run: make generate\n%s", diff)
	}
}

func readYAMLDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(data)
	}
	return files
}

// rendered is what the tests read from one `helm template`.
type rendered struct {
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	deployment *appsv1.Deployment
	configMaps []*corev1.ConfigMap
	kinds      []string
	// docs are every rendered object, in order.
	docs []*unstructured.Unstructured
}

// byKind is the rendered objects of kind.
func (r rendered) byKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, d := range r.docs {
		if d.GetKind() == kind {
			out = append(out, d)
		}
	}
	return out
}

// helmTemplate renders the chart with helm from $PULLGUARD_HELM (make
// chart-lint sets it to the pinned helm it builds from the module proxy).
func helmTemplate(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := runHelmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return parseRendered(t, out)
}

// parseRendered reads the objects of helm template's output.
func parseRendered(t *testing.T, out string) rendered {
	t.Helper()
	var r rendered
	for doc := range strings.SplitSeq(out, "\n---\n") {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue
		}
		r.kinds = append(r.kinds, head.Kind)
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered %s does not parse: %v", head.Kind, err)
		}
		r.docs = append(r.docs, &unstructured.Unstructured{Object: obj})
		var target any
		switch head.Kind {
		case "MutatingWebhookConfiguration":
			r.mutating = &admissionregistrationv1.MutatingWebhookConfiguration{}
			target = r.mutating
		case "ValidatingWebhookConfiguration":
			r.validating = &admissionregistrationv1.ValidatingWebhookConfiguration{}
			target = r.validating
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			target = r.deployment
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			r.configMaps = append(r.configMaps, cm)
			target = cm
		default:
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Fatalf("%s does not parse strictly: %v", head.Kind, err)
		}
	}
	if r.mutating == nil || r.validating == nil || r.deployment == nil {
		t.Fatalf("rendered kinds %v lack a webhook configuration or the Deployment", r.kinds)
	}
	return r
}

// runHelmTemplate runs `helm template` of the chart with args; the error
// carries helm's stderr.
func runHelmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm := helmBinary(t)
	return runHelm(helm, append([]string{"template", release, chartDir, "--namespace", namespace}, withDigest(args)...)...)
}

// helmBinary is $PULLGUARD_HELM, the pinned helm `make chart-lint` builds;
// without it the test is skipped.
func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("PULLGUARD_HELM")
	if helm == "" {
		t.Skip("PULLGUARD_HELM is not set; `make chart-lint` runs this test with the pinned helm")
	}
	return helm
}

// runHelm runs helm with args; the error carries its stderr.
func runHelm(helm string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// The chart's labels and annotations are its own; everything else must be
// what webhook/config.go builds.
var ignoreMeta = cmpopts.IgnoreFields(metav1.ObjectMeta{}, "Labels", "Annotations")

func TestWebhookConfigurationsMatchCode(t *testing.T) {
	t.Parallel()
	service := func() *admissionregistrationv1.ServiceReference {
		port := int32(443)
		return &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: release, Port: &port}
	}
	name := webhook.ReleaseConfigurationName(release, namespace)
	tests := []struct {
		name string
		args []string
		want webhook.ConfigOptions
	}{{
		name: "defaults",
		want: webhook.ConfigOptions{Name: name, Service: service(), ExcludeNamespaces: []string{namespace}},
	}, {
		name: "fail closed",
		args: []string{"-f", filepath.Join(chartDir, "ci", "fail-closed-values.yaml")},
		want: webhook.ConfigOptions{
			Name: name, Service: service(), ExcludeNamespaces: []string{namespace, "monitoring"},
			TimeoutSeconds: 15, FailurePolicy: admissionregistrationv1.Fail,
		},
	}, {
		name: "cert-manager",
		args: []string{"--api-versions", "cert-manager.io/v1"},
		want: webhook.ConfigOptions{Name: name, Service: service(), ExcludeNamespaces: []string{namespace}},
	}, {
		name: "full name overridden",
		args: []string{"--set", "fullnameOverride=guard"},
		want: webhook.ConfigOptions{
			Name:              webhook.ReleaseConfigurationName("guard", namespace),
			Service:           &admissionregistrationv1.ServiceReference{Namespace: namespace, Name: "guard", Port: ptr(int32(443))},
			ExcludeNamespaces: []string{namespace},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := helmTemplate(t, tt.args...)
			if diff := cmp.Diff(webhook.MutatingConfiguration(tt.want), r.mutating, ignoreMeta); diff != "" {
				t.Errorf("MutatingWebhookConfiguration (-code +chart):\n%s", diff)
			}
			if diff := cmp.Diff(webhook.ValidatingConfiguration(tt.want), r.validating, ignoreMeta); diff != "" {
				t.Errorf("ValidatingWebhookConfiguration (-code +chart):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestCertificateModes checks which objects each way of making certificates
// renders, and that cert-manager's CA reaches both configurations.
func TestCertificateModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		args           []string
		wantCerts      int
		wantInjectFrom string
		wantSelfSigned bool
	}{
		{name: "auto without cert-manager", wantSelfSigned: true},
		{name: "auto with cert-manager", args: []string{"--api-versions", "cert-manager.io/v1"},
			wantCerts: 2, wantInjectFrom: namespace + "/pullguard-serving"},
		{name: "forced self-signed", args: []string{"--api-versions", "cert-manager.io/v1", "--set", "certificates.mode=self-signed"},
			wantSelfSigned: true},
		{name: "forced cert-manager", args: []string{"--set", "certificates.mode=cert-manager"},
			wantCerts: 2, wantInjectFrom: namespace + "/pullguard-serving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := helmTemplate(t, tt.args...)
			certs := 0
			for _, k := range r.kinds {
				if k == "Certificate" {
					certs++
				}
			}
			if certs != tt.wantCerts {
				t.Errorf("rendered %d Certificates, want %d (kinds %v)", certs, tt.wantCerts, r.kinds)
			}
			const inject = "cert-manager.io/inject-ca-from"
			if got := r.mutating.Annotations[inject]; got != tt.wantInjectFrom {
				t.Errorf("mutating %s = %q, want %q", inject, got, tt.wantInjectFrom)
			}
			if got := r.validating.Annotations[inject]; got != tt.wantInjectFrom {
				t.Errorf("validating %s = %q, want %q", inject, got, tt.wantInjectFrom)
			}
			args := r.deployment.Spec.Template.Spec.Containers[0].Args
			if got := slices.Contains(args, "--self-signed"); got != tt.wantSelfSigned {
				t.Errorf("--self-signed in args = %v, want %v (args %q)", got, tt.wantSelfSigned, args)
			}
		})
	}
}

// TestServeAcceptsChartArgs parses the Deployment's arguments with the real
// `pullguard serve` command (--help stops it before it runs), so a flag the
// chart passes and the binary lacks fails here rather than in a crash loop.
func TestServeAcceptsChartArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{name: "self-signed"},
		{name: "cert-manager", args: []string{"--api-versions", "cert-manager.io/v1"}},
		{name: "fail closed", args: []string{"-f", filepath.Join(chartDir, "ci", "fail-closed-values.yaml")}},
		{name: "credential providers", args: []string{"-f", filepath.Join(chartDir, "ci", "credential-providers-values.yaml")}},
		{name: "node registry config", args: []string{"-f", filepath.Join(chartDir, "ci", "node-registry-config-values.yaml")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := helmTemplate(t, tt.args...)
			c := r.deployment.Spec.Template.Spec.Containers[0]
			if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
				t.Fatalf("container runs command %q args %q, want the image's entrypoint with serve", c.Command, c.Args)
			}
			var stderr bytes.Buffer
			if code := app.Main(append(slices.Clone(c.Args), "--help"), strings.NewReader(""), io.Discard, &stderr); code != app.ExitOK {
				t.Errorf("pullguard %s: exit %d: %s", strings.Join(c.Args, " "), code, stderr.String())
			}
		})
	}
}

// TestNoDigestNoInstall: the source chart names no image that does not
// exist; without a digest helm refuses it with the schema's message, and,
// with schema validation skipped, with the template's.
func TestNoDigestNoInstall(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "at '/image': missing property 'digest'"},
		{[]string{"--skip-schema-validation"}, "image.digest is required: install a released chart"},
	} {
		_, err := runHelm(helm, append([]string{"template", release, chartDir}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("helm template %q without image.digest: error %v, want one saying %q", tt.args, err, tt.want)
		}
	}
}

// TestImagePinnedByDigest keeps `latest` and tag-only references out.
func TestImagePinnedByDigest(t *testing.T) {
	t.Parallel()
	r := helmTemplate(t)
	image := r.deployment.Spec.Template.Spec.Containers[0].Image
	if _, digest, ok := strings.Cut(image, "@sha256:"); !ok || len(digest) != 64 {
		t.Errorf("image %q is not pinned by a sha256 digest", image)
	}
	if strings.Contains(image, ":latest") {
		t.Errorf("image %q names latest", image)
	}
}

// TestCredentialProviders: the chart's credential provider config is one
// pullguard reads as the kubelet does, mounted where the flags point, with
// the plugins' volume shared with the init container that fills it.
func TestCredentialProviders(t *testing.T) {
	t.Parallel()
	r := helmTemplate(t, "-f", filepath.Join(chartDir, "ci", "credential-providers-values.yaml"))
	var cfg string
	for _, cm := range r.configMaps {
		if cm.Name == release+"-credential-providers" {
			cfg = cm.Data["config.yaml"]
		}
	}
	if cfg == "" {
		t.Fatal("no credential provider ConfigMap rendered")
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := credentialprovider.ReadConfig(path); err != nil {
		t.Errorf("the rendered config does not read: %v\n%s", err, cfg)
	}
	spec := r.deployment.Spec.Template.Spec
	c := spec.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, want := range []string{
		"--image-credential-provider-config=" + mounts["credential-provider-config"] + "/config.yaml",
		"--image-credential-provider-bin-dir=" + mounts["credential-provider-bin"],
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	if len(spec.InitContainers) != 1 || len(spec.InitContainers[0].VolumeMounts) != 1 || spec.InitContainers[0].VolumeMounts[0].Name != "credential-provider-bin" {
		t.Errorf("init containers %+v do not fill the plugins' volume", spec.InitContainers)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AWS_REGION" }) {
		t.Errorf("env %+v lacks the plugins' AWS_REGION", c.Env)
	}
	if len(helmTemplate(t).configMaps) != 0 {
		t.Error("the default values render a ConfigMap")
	}
}

// TestNodeRegistryConfig: the ConfigMap's files, laid out by the volume's
// items, are a certs.d tree pullguard reads, mounted where the flag points.
func TestNodeRegistryConfig(t *testing.T) {
	t.Parallel()
	r := helmTemplate(t, "-f", filepath.Join(chartDir, "ci", "node-registry-config-values.yaml"))
	var data map[string]string
	for _, cm := range r.configMaps {
		if cm.Name == release+"-node-registry-config" {
			data = cm.Data
		}
	}
	spec := r.deployment.Spec.Template.Spec
	root := t.TempDir()
	laid := 0
	for _, v := range spec.Volumes {
		if v.Name != "node-registry-config" || v.ConfigMap == nil {
			continue
		}
		for _, it := range v.ConfigMap.Items {
			content, ok := data[it.Key]
			if !ok {
				t.Fatalf("item %q names no key of the ConfigMap", it.Key)
			}
			p := filepath.Join(root, filepath.FromSlash(it.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			laid++
		}
	}
	if laid != 2 {
		t.Fatalf("laid out %d files, want 2", laid)
	}
	cfg, err := nodehosts.Load(root)
	if err != nil {
		t.Fatalf("the rendered tree does not load: %v", err)
	}
	if hosts, _ := cfg.Hosts("docker.io", false); len(hosts) != 2 || hosts[0] != "mirror.internal:5000" {
		t.Errorf("docker.io pulls from %v, want the mirror first", hosts)
	}
	if !slices.Contains(spec.Containers[0].Args, "--node-registry-config=/etc/pullguard/node-registry-config") {
		t.Errorf("args %q lack --node-registry-config", spec.Containers[0].Args)
	}
}

// TestOpenReportsCRDMatchesModule fails when the Report CRD the chart
// installs (reports.installCRDs) is not the one of the reports-api module
// go.mod names, whose Go types the watcher writes: copy it over from
// `go list -m -f '{{.Dir}}' github.com/openreports/reports-api`/config/crd.
func TestOpenReportsCRDMatchesModule(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "openreports.io_reports.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chartDir, "files", "openreports.io_reports.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("charts/pullguard/files/openreports.io_reports.yaml differs from the reports-api module's CRD")
	}
	reportCRDs := func(args ...string) int {
		n := 0
		for _, u := range helmTemplate(t, args...).byKind("CustomResourceDefinition") {
			if u.GetName() == "reports.openreports.io" {
				n++
			}
		}
		return n
	}
	on, off, elsewhere := reportCRDs(), reportCRDs("--set", "reports.installCRDs=false"), reportCRDs("--set", "crds.enabled=false")
	if on != 1 || off != 0 || elsewhere != 0 {
		t.Errorf("Report CRDs rendered: %d by default, %d with reports.installCRDs=false, %d with crds.enabled=false; want 1, 0, 0",
			on, off, elsewhere)
	}
}
