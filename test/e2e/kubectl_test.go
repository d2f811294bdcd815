//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/test/bed"
)

// result is what a user sees of one kubectl call.
type result = bed.Result

// kubectl runs the real kubectl against the bed with stdin as its input.
func kubectl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runKubectl(t, the.Kubectl, stdin, args...)
}

// runKubectl runs k with stdin as its input; only a kubectl that could not
// run fails the test, its exit code is the caller's to judge.
func runKubectl(t *testing.T, k bed.Kubectl, stdin string, args ...string) result {
	t.Helper()
	r, err := k.Run(context.Background(), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// apply is `kubectl apply -f -` of manifest, with extra flags.
func apply(t *testing.T, manifest string, flags ...string) result {
	t.Helper()
	return kubectl(t, manifest, append([]string{"apply", "-f", "-"}, flags...)...)
}

// wantExit fails the test unless r exited with code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want exit %d, got:\n%s", code, r)
	}
}

// wantOutput fails the test unless every want is in r's output.
func wantOutput(t *testing.T, r result, wants ...string) {
	t.Helper()
	out := r.Output()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, r)
		}
	}
}

// wantNoOutput fails the test if any of unwanted is in r's output.
func wantNoOutput(t *testing.T, r result, unwanted ...string) {
	t.Helper()
	out := r.Output()
	for _, u := range unwanted {
		if strings.Contains(out, u) {
			t.Errorf("output has %q:\n%s", u, r)
		}
	}
}

// warnings are kubectl's "Warning: " lines.
func warnings(r result) []string { return r.Warnings() }

// wantAbsent fails the test if kubectl finds the object.
func wantAbsent(t *testing.T, kind, ns, name string) {
	t.Helper()
	r := kubectl(t, "", "get", kind, name, "-n", ns, "-o", "name")
	wantExit(t, r, 1)
	wantOutput(t, r, "NotFound")
}

// jsonpath is `kubectl get -o jsonpath=...` of one object.
func jsonpath(t *testing.T, kind, ns, name, path string) string {
	t.Helper()
	return getJSONPath(t, the.Kubectl, kind, ns, name, path)
}

// getJSONPath is `kubectl get -o jsonpath=...` with k; name "" gets them all.
func getJSONPath(t *testing.T, k bed.Kubectl, kind, ns, name, path string) string {
	t.Helper()
	args := []string{"get", kind, "-o", "jsonpath=" + path}
	if name != "" {
		args = append(args, name)
	}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	r := runKubectl(t, k, "", args...)
	wantExit(t, r, 0)
	return r.Stdout
}

// eventually retries check every 250 ms until it returns "" or timeout
// passes, then fails with its last complaint.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// spec is the pod spec of the cases' manifests.
type spec struct {
	image          string
	nodeSelector   map[string]string
	pullSecret     string
	serviceAccount string
	replicas       int32
}

func (s spec) podSpec() corev1.PodSpec {
	ps := corev1.PodSpec{
		Containers:         []corev1.Container{{Name: "app", Image: s.image}},
		NodeSelector:       s.nodeSelector,
		ServiceAccountName: s.serviceAccount,
	}
	if s.pullSecret != "" {
		ps.ImagePullSecrets = []corev1.LocalObjectReference{{Name: s.pullSecret}}
	}
	return ps
}

// deploymentYAML is a Deployment manifest as a user writes it.
func deploymentYAML(t *testing.T, ns, name string, s spec) string {
	t.Helper()
	labels := map[string]string{"app": name}
	replicas := s.replicas
	if replicas == 0 {
		replicas = 1
	}
	return toYAML(t, &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       s.podSpec(),
			},
		},
	})
}

// podYAML is a bare Pod manifest.
func podYAML(t *testing.T, ns, name string, s spec) string {
	t.Helper()
	return toYAML(t, &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       s.podSpec(),
	})
}

func toYAML(t *testing.T, obj any) string {
	t.Helper()
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
