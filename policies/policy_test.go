package policies

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func TestAppliesTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		selector *metav1.LabelSelector
		labels   map[string]string
		want     bool
	}{
		{"absent selects all", nil, map[string]string{"a": "b"}, true},
		{"empty selects all", &metav1.LabelSelector{}, nil, true},
		{"match", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, map[string]string{"env": "prod"}, true},
		{"no match", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, map[string]string{"env": "dev"}, false},
		{"cluster-scoped object", &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := compile(t, v1alpha1.ImagePolicySpec{NamespaceSelector: tc.selector})
			if got := p.AppliesTo(tc.labels); got != tc.want {
				t.Errorf("AppliesTo(%v) = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
}

func TestRegistryAllowed(t *testing.T) {
	t.Parallel()
	p := compile(t, v1alpha1.ImagePolicySpec{AllowedRegistries: []v1alpha1.RegistryPattern{
		"ghcr.io", "*.example.com", "docker.io", "quay.io/acme/*", "localhost:5000",
	}})
	tests := []struct {
		image string
		want  bool
	}{
		{"ghcr.io/x/y:1", true},
		{"ghcr.io.evil.com/x:1", false},
		{"eu.example.com/x:1", true},
		{"example.com/x:1", false},
		{"nginx:1", true}, // Docker Hub written short is docker.io
		{"quay.io/acme/api:1", true},
		{"quay.io/other/api:1", false},
		{"localhost:5000/app:1", true},
		{"localhost:5001/app:1", false},
	}
	for _, tc := range tests {
		if got := p.RegistryAllowed(ref(t, tc.image)); got != tc.want {
			t.Errorf("RegistryAllowed(%q) = %v, want %v", tc.image, got, tc.want)
		}
	}
	if !Default().RegistryAllowed(ref(t, "anything.example/x:1")) {
		t.Error("the default allows every registry")
	}
}

func TestCompileDoesNotModifyAndAccessors(t *testing.T) {
	t.Parallel()
	obj := &v1alpha1.ImagePolicy{Spec: v1alpha1.ImagePolicySpec{
		Network: v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{"r.local:5000"}},
	}}
	before := obj.DeepCopy()
	p, err := Compile(obj)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, obj); diff != "" {
		t.Errorf("Compile modified its input (-before +after):\n%s", diff)
	}
	n := p.Network()
	n.InsecureRegistries[0] = "changed"
	if p.Network().InsecureRegistries[0] != "r.local:5000" {
		t.Error("Network returns shared state")
	}
	if p.Mode() != v1alpha1.ModeEnforce || p.PinDigests() != v1alpha1.PinOff || p.Mirrors() != nil {
		t.Errorf("defaults: mode %s pin %s mirrors %v", p.Mode(), p.PinDigests(), p.Mirrors())
	}
	if _, err := Compile(nil); err == nil {
		t.Error("Compile(nil) gave no error")
	}
}

func TestReadyCondition(t *testing.T) {
	t.Parallel()
	obj := &v1alpha1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 3}, Spec: v1alpha1.ImagePolicySpec{Mode: "Strict"}}
	_, err := Compile(obj)
	got := ReadyCondition(obj, err)
	want := metav1.Condition{
		Type: "Ready", Status: metav1.ConditionFalse, Reason: "Invalid", ObservedGeneration: 3,
		Message: `spec.mode: Unsupported value: "Strict": supported values: "Enforce", "Audit"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if c := ReadyCondition(obj, nil); c.Status != metav1.ConditionTrue || c.Reason != "Valid" {
		t.Errorf("valid: %+v", c)
	}
	if c := ReadyCondition(obj, errors.New("boom")); c.Message != "boom" {
		t.Errorf("other error: %+v", c)
	}
}

func TestMutates(t *testing.T) {
	t.Parallel()
	load := func(spec string) *Policy {
		t.Helper()
		p, err := Load([]byte("apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n" + spec))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		policy *Policy
		kind   string
		want   bool
	}{
		{"built-in default never mutates", Default(), "Pod", false},
		{"pinning mutates pods", load("  pinDigests: Digest\n"), "Pod", true},
		{"pinning leaves templates alone", load("  pinDigests: Digest\n"), "Deployment", false},
		{"pinning templates when asked", load("  pinDigests: Digest\n  mutateWorkloads: true\n"), "Deployment", true},
		{"mirrors mutate pods", load("  mirrors: [{from: docker.io, to: mirror.example.com/hub}]\n"), "Pod", true},
		{"affinity mutates pods", load("  platformAffinity: true\n"), "Pod", true},
		{"mutateWorkloads alone changes nothing", load("  mutateWorkloads: true\n"), "Deployment", false},
	}
	for _, tt := range tests {
		if got := tt.policy.Mutates(tt.kind); got != tt.want {
			t.Errorf("%s: Mutates(%q) = %v, want %v", tt.name, tt.kind, got, tt.want)
		}
	}
}
