package policies

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func affinity(terms ...corev1.NodeSelectorTerm) *corev1.NodeSelector {
	return &corev1.NodeSelector{NodeSelectorTerms: terms}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

func TestCandidatePlatforms(t *testing.T) {
	t.Parallel()
	nodes := []v1.Platform{amd64, arm64, windows, amd64}
	const arch, os = corev1.LabelArchStable, corev1.LabelOSStable
	tests := []struct {
		name string
		pod  *workload.PodContext
		want []v1.Platform
	}{
		{"nil pod, duplicates dropped", nil, []v1.Platform{amd64, arm64, windows}},
		{"nodeSelector arch", &workload.PodContext{NodeSelector: map[string]string{arch: "arm64"}}, []v1.Platform{arm64}},
		{"nodeSelector beta os", &workload.PodContext{NodeSelector: map[string]string{"beta.kubernetes.io/os": "windows"}}, []v1.Platform{windows}},
		{"other labels restrict nothing", &workload.PodContext{NodeSelector: map[string]string{"pool": "gpu"}}, []v1.Platform{amd64, arm64, windows}},
		{"In", &workload.PodContext{RequiredNodeAffinity: affinity(term(expr(arch, corev1.NodeSelectorOpIn, "amd64")))}, []v1.Platform{amd64, windows}},
		{"NotIn", &workload.PodContext{RequiredNodeAffinity: affinity(term(expr(arch, corev1.NodeSelectorOpNotIn, "amd64")))}, []v1.Platform{arm64}},
		{"Exists", &workload.PodContext{RequiredNodeAffinity: affinity(term(expr(arch, corev1.NodeSelectorOpExists)))}, []v1.Platform{amd64, arm64, windows}},
		{"DoesNotExist", &workload.PodContext{RequiredNodeAffinity: affinity(term(expr(os, corev1.NodeSelectorOpDoesNotExist)))}, nil},
		{"AND within a term", &workload.PodContext{RequiredNodeAffinity: affinity(term(
			expr(os, corev1.NodeSelectorOpIn, "linux"), expr(arch, corev1.NodeSelectorOpIn, "amd64")))}, []v1.Platform{amd64}},
		{"OR across terms", &workload.PodContext{RequiredNodeAffinity: affinity(
			term(expr(os, corev1.NodeSelectorOpIn, "windows")), term(expr(arch, corev1.NodeSelectorOpIn, "arm64")))}, []v1.Platform{arm64, windows}},
		{"empty term matches nothing", &workload.PodContext{RequiredNodeAffinity: affinity(corev1.NodeSelectorTerm{})}, nil},
		{"nodeSelector and affinity both apply", &workload.PodContext{
			NodeSelector:         map[string]string{os: "linux"},
			RequiredNodeAffinity: affinity(term(expr(arch, corev1.NodeSelectorOpNotIn, "arm64")))}, []v1.Platform{amd64}},
		{"Gt on arch matches nothing", &workload.PodContext{RequiredNodeAffinity: affinity(term(expr(arch, corev1.NodeSelectorOpGt, "1")))}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, CandidatePlatforms(nodes, tc.pod)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluatePlatforms(t *testing.T) {
	t.Parallel()
	both := []v1.Platform{amd64, arm64}
	withCandidates := func(r Result, c []v1.Platform) Result { r.Candidates = c; return r }
	second := func(r Result) Result {
		r.Use.Container, r.Use.Pointer = "sidecar", "/spec/containers/1/image"
		return r
	}
	tests := []struct {
		name          string
		spec          v1alpha1.ImagePolicySpec
		kind          string
		affinityFixed bool
		results       []Result
		wantFindings  []string // class=action per finding
		wantAffinity  []PlatformAffinity
		wantAllowed   bool
	}{{
		name:        "variant-aware match",
		results:     []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64, arm64v8), both)},
		wantAllowed: true,
	}, {
		name:         "none of the candidates",
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", windows), both)},
		wantFindings: []string{"PlatformMismatch=Deny"},
	}, {
		name:         "partial warns",
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both)},
		wantFindings: []string{"PlatformMismatch=Warn"},
		wantAllowed:  true,
	}, {
		name:         "partial never stronger than the class action",
		spec:         v1alpha1.ImagePolicySpec{Actions: map[string]Action{"PlatformMismatch": Audit}},
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both)},
		wantFindings: []string{"PlatformMismatch=Audit"},
		wantAllowed:  true,
	}, {
		name:         "partial still warns in Audit mode",
		spec:         v1alpha1.ImagePolicySpec{Mode: v1alpha1.ModeAudit},
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both)},
		wantFindings: []string{"PlatformMismatch=Warn"},
		wantAllowed:  true,
	}, {
		name:         "partial with affinity",
		spec:         v1alpha1.ImagePolicySpec{PlatformAffinity: true},
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both), second(withCandidates(use(t, "ghcr.io/a/c:v1", amd64, arm64), both))},
		wantAffinity: []PlatformAffinity{{SpecPointer: "/spec", Platforms: []v1.Platform{amd64}}},
		wantAllowed:  true,
	}, {
		name:          "affinity asked but the pod's affinity is fixed (an update)",
		spec:          v1alpha1.ImagePolicySpec{PlatformAffinity: true},
		affinityFixed: true,
		results:       []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both)},
		wantFindings:  []string{"PlatformMismatch=Warn"},
		wantAllowed:   true,
	}, {
		name:         "affinity asked but the workload is not mutable",
		spec:         v1alpha1.ImagePolicySpec{PlatformAffinity: true},
		kind:         "Deployment",
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both)},
		wantFindings: []string{"PlatformMismatch=Warn"},
		wantAllowed:  true,
	}, {
		name:         "no platform runs every image of the pod",
		spec:         v1alpha1.ImagePolicySpec{PlatformAffinity: true},
		results:      []Result{withCandidates(use(t, "ghcr.io/a/b:v1", amd64), both), second(withCandidates(use(t, "ghcr.io/a/c:v1", arm64), both))},
		wantFindings: []string{"PlatformMismatch=Deny", "PlatformMismatch=Deny"},
	}, {
		name:        "unknown candidates skip the check",
		results:     []Result{use(t, "ghcr.io/a/b:v1", windows)},
		wantAllowed: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj := podObject
			if tc.kind != "" {
				obj.Kind = tc.kind
			}
			d := compile(t, tc.spec).Evaluate(Input{Object: obj, Results: tc.results, AffinityFixed: tc.affinityFixed})
			var got []string
			for _, f := range d.Findings {
				got = append(got, string(f.Class)+"="+string(f.Action))
			}
			if diff := cmp.Diff(tc.wantFindings, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAffinity, d.Affinity); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
			if d.Allowed != tc.wantAllowed {
				t.Errorf("Allowed = %v, want %v", d.Allowed, tc.wantAllowed)
			}
		})
	}
}

func TestPlatformMessages(t *testing.T) {
	t.Parallel()
	r := use(t, "ghcr.io/a/b:v1", windows)
	r.Candidates = []v1.Platform{amd64, arm64}
	d := Default().Evaluate(Input{Object: podObject, Results: []Result{r}})
	want := Finding{
		Object: "Pod/team-a/web", Container: "app", Image: "ghcr.io/a/b:v1", Pointer: "/spec/containers/0/image",
		Class: image.PlatformMismatch, Action: Deny,
		Message: `container "app": image "ghcr.io/a/b:v1" has no build for any platform the pod can run on: it has windows/amd64, the pod needs linux/amd64, linux/arm64`,
		Fix:     `build the image for every platform (docker buildx build --platform windows/amd64,linux/amd64,linux/arm64 --push), or schedule the pod on nodes with kubernetes.io/os=windows and kubernetes.io/arch=amd64`,
	}
	if diff := cmp.Diff([]Finding{want}, d.Findings); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
