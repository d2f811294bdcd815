package policies

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\n"
	tests := []struct {
		name    string
		data    string
		wantErr string // substring; "" for success
	}{
		{"minimal", head, ""},
		{"json", `{"apiVersion":"pullguard.io/v1alpha1","kind":"ImagePolicy","metadata":{"name":"p"},"spec":{"mode":"Audit"}}`, ""},
		{"unknown top-level field", head + "spec: {pinDigest: Digest}\n", `unknown field "spec.pinDigest"`},
		{"unknown nested field", head + "spec:\n  mirrors: [{from: docker.io, too: m.example.com}]\n", `"spec.mirrors[0].too"`},
		{"duplicate field", head + "spec: {mode: Audit, mode: Enforce}\n", `"mode"`},
		{"wrong kind", "apiVersion: pullguard.io/v1alpha1\nkind: Policy\n", `kind "Policy"`},
		{"wrong version", "apiVersion: pullguard.io/v1\nkind: ImagePolicy\n", `apiVersion "pullguard.io/v1"`},
		{"invalid value", head + "spec: {mode: Strict}\n", `spec.mode: Unsupported value: "Strict"`},
		{"not yaml", "{{{", "decode image policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Load([]byte(tc.data))
			if tc.wantErr == "" {
				if err != nil || p.Name() != "p" {
					t.Fatalf("Load = %v, %v; want policy \"p\"", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidationFieldPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec v1alpha1.ImagePolicySpec
		want []string // "type field"
	}{{
		name: "enums",
		spec: v1alpha1.ImagePolicySpec{Mode: "Strict", OnRegistryError: "Ignore", PinDigests: "Always"},
		want: []string{"FieldValueNotSupported spec.mode", "FieldValueNotSupported spec.onRegistryError", "FieldValueNotSupported spec.pinDigests"},
	}, {
		name: "pull budget percentage",
		spec: v1alpha1.ImagePolicySpec{PullBudgetWarningPercent: ptrTo(int32(101))},
		want: []string{"FieldValueInvalid spec.pullBudgetWarningPercent"},
	}, {
		name: "actions keys and values",
		spec: v1alpha1.ImagePolicySpec{Actions: map[string]Action{"NotFound": "Reject", "Latest": Deny}},
		want: []string{"FieldValueNotSupported spec.actions[Latest]", "FieldValueNotSupported spec.actions[NotFound]"},
	}, {
		name: "patterns",
		spec: v1alpha1.ImagePolicySpec{
			ExemptImages:      []v1alpha1.ImagePattern{"registry.k8s.io/*", "", "registry.k8s.io/*", "has space"},
			AllowedRegistries: []v1alpha1.RegistryPattern{"https://ghcr.io", v1alpha1.RegistryPattern(strings.Repeat("a", 256))},
		},
		want: []string{"FieldValueRequired spec.exemptImages[1]", "FieldValueDuplicate spec.exemptImages[2]",
			"FieldValueInvalid spec.exemptImages[3]", "FieldValueInvalid spec.allowedRegistries[0]", "FieldValueTooLong spec.allowedRegistries[1]"},
	}, {
		name: "mirrors",
		spec: v1alpha1.ImagePolicySpec{Mirrors: []v1alpha1.Mirror{
			{From: "docker.io", To: "docker.io"}, {From: "docker.io", To: "Mirror.example.com"}, {From: "quay.io"},
		}},
		want: []string{"FieldValueInvalid spec.mirrors[0].to", "FieldValueDuplicate spec.mirrors[1].from",
			"FieldValueInvalid spec.mirrors[1].to", "FieldValueRequired spec.mirrors[2].to"},
	}, {
		name: "network and selector",
		spec: v1alpha1.ImagePolicySpec{
			Network:           v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{"registry.local:5000", "http://x"}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}},
		},
		want: []string{"FieldValueInvalid spec.namespaceSelector.matchExpressions[0].operator", "FieldValueInvalid spec.network.insecureRegistries[1]"},
	}, {
		name: "too many",
		spec: v1alpha1.ImagePolicySpec{Mirrors: make([]v1alpha1.Mirror, maxMirrors+1)},
		want: func() []string {
			w := []string{"FieldValueTooMany spec.mirrors"}
			for i := 0; i <= maxMirrors; i++ {
				if i > 0 {
					w = append(w, "FieldValueDuplicate spec.mirrors["+strconv.Itoa(i)+"].from")
				}
				w = append(w, "FieldValueRequired spec.mirrors["+strconv.Itoa(i)+"].from", "FieldValueRequired spec.mirrors["+strconv.Itoa(i)+"].to")
			}
			return w
		}(),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(&v1alpha1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tc.spec})
			var inv *InvalidPolicyError
			if !errors.As(err, &inv) {
				t.Fatalf("Compile error = %v, want *InvalidPolicyError", err)
			}
			var got []string
			for _, e := range inv.Errs {
				got = append(got, string(e.Type)+" "+e.Field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(err.Error(), `image policy "p" is invalid: `) {
				t.Errorf("error text %q", err)
			}
		})
	}
}

func TestExamplesCompile(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Load(data)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if p.Name() == "" {
				t.Error("example has no name")
			}
		})
	}
}

// The examples say what they do; check that they do it.
func TestExampleSemantics(t *testing.T) {
	t.Parallel()
	load := func(name string) *Policy {
		data, err := os.ReadFile(filepath.Join("examples", name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Load(data)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	strict := load("strict.yaml")
	if !strict.AppliesTo(map[string]string{"environment": "production"}) || strict.AppliesTo(map[string]string{"environment": "dev"}) {
		t.Error("strict: namespace selection")
	}
	if !strict.RegistryAllowed(ref(t, "ghcr.io/acme/api:v1")) || strict.RegistryAllowed(ref(t, "ghcr.io/other/api:v1")) ||
		!strict.RegistryAllowed(ref(t, "eu.example.com/x:v1")) || strict.RegistryAllowed(ref(t, "nginx:1")) {
		t.Error("strict: allowed registries")
	}
	if strict.Action(image.LatestTag) != Deny || strict.Action(image.Unreachable) != Deny {
		t.Error("strict: actions")
	}
	audit := load("audit.yaml")
	if audit.Action(image.NotFound) != Audit || audit.Action(image.LatestTag) != Warn {
		t.Error("audit: actions")
	}
	mirror := load("dockerhub-mirror.yaml")
	wantMirrors := []image.Mirror{{From: "docker.io", To: "mirror.example.com/dockerhub", FallbackToSource: true}}
	if diff := cmp.Diff(wantMirrors, mirror.Mirrors()); diff != "" {
		t.Errorf("mirrors (-want +got):\n%s", diff)
	}
	if !mirror.MutateWorkloads() || !mirror.Network().AllowPrivate || mirror.AppliesTo(map[string]string{"pullguard.io/skip": ""}) {
		t.Error("dockerhub-mirror: settings")
	}
}

func ptrTo[T any](v T) *T { return &v }
