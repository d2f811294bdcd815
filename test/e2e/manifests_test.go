//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The chart as `make chart-render` renders it.
const (
	chartDir       = "../../charts/pullguard"
	chartRelease   = "pullguard"
	chartNamespace = "pullguard-system"
)

// helmBinary is the pinned helm `make e2e` builds and passes as
// $PULLGUARD_HELM. The e2e tag asks for the chart's proof too, so a
// missing helm fails the test instead of skipping it.
func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("PULLGUARD_HELM")
	if helm == "" {
		t.Fatal("PULLGUARD_HELM is not set: run `make e2e`, which builds the pinned helm and sets it")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("PULLGUARD_HELM: %v", err)
	}
	return helm
}

// helm runs the helm binary with args (HOME and helm's directories kept in
// a temporary directory) and returns its stdout.
func helm(t *testing.T, bin string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// renderChart is `helm template` of the chart as release chartRelease in
// chartNamespace, with more flags (values, --api-versions).
func renderChart(t *testing.T, bin string, flags ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", chartRelease, chartDir, "--namespace", chartNamespace, "--set", "image.digest=" + chartTestDigest}, flags...)
	return objects(t, helm(t, bin, args...))
}

// objects splits a multi-document YAML stream into its objects, leaving
// out documents with nothing but comments (helm's "# Source:" lines).
func objects(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("split the manifests: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("manifest %q: %v", doc, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			t.Fatalf("manifest without apiVersion, kind or name:\n%s", doc)
		}
		out = append(out, u)
	}
}

// stream joins objects into one YAML stream for `kubectl apply -f -`.
func stream(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.String()
}

// kindKey is how objects are told apart by type: "group/version Kind".
func kindKey(o *unstructured.Unstructured) string { return o.GetAPIVersion() + " " + o.GetKind() }

// split returns the objects whose kindKey is in keys, and the others.
func split(objs []*unstructured.Unstructured, keys ...string) (in, out []*unstructured.Unstructured) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	for _, o := range objs {
		if want[kindKey(o)] {
			in = append(in, o)
		} else {
			out = append(out, o)
		}
	}
	return in, out
}

// pointAtURL replaces the Service every webhook of a rendered
// configuration calls with base+path: the test API server has no Service
// network, so it reaches the webhook on loopback as the bed's own does.
// caBundle stays empty for the self-signed bootstrap to fill.
func pointAtURL(t *testing.T, cfg *unstructured.Unstructured, base string) {
	t.Helper()
	hooks, ok, err := unstructured.NestedSlice(cfg.Object, "webhooks")
	if err != nil || !ok || len(hooks) == 0 {
		t.Fatalf("%s %q has no webhooks (err %v)", cfg.GetKind(), cfg.GetName(), err)
	}
	for i, h := range hooks {
		hook, _ := h.(map[string]any)
		path, ok, err := unstructured.NestedString(hook, "clientConfig", "service", "path")
		if err != nil || !ok {
			t.Fatalf("%s %q webhook %d calls no Service path (err %v)", cfg.GetKind(), cfg.GetName(), i, err)
		}
		if err := unstructured.SetNestedMap(hook, map[string]any{"url": base + path}, "clientConfig"); err != nil {
			t.Fatal(err)
		}
		hooks[i] = hook
	}
	if err := unstructured.SetNestedSlice(cfg.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
}
