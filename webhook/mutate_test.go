package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	gomodulesjsonpatch "gomodules.xyz/jsonpatch/v2"
	apiserverjsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/policies"
)

// applyResponse applies resp's patch to object, as the API server does.
func applyResponse(t *testing.T, object []byte, resp admission.Response) []byte {
	t.Helper()
	if len(resp.Patches) == 0 {
		return object
	}
	b, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(object)
	if err != nil {
		t.Fatalf("applying %s: %v", b, err)
	}
	return out
}

type patchOp = gomodulesjsonpatch.JsonPatchOperation

// rewrite is the patch of one image: a test that the pointer still holds
// the image it was decided for, then the replacement.
func rewrite(pointer, from, to string) []patchOp {
	return []patchOp{{Operation: "test", Path: pointer, Value: from}, {Operation: "replace", Path: pointer, Value: to}}
}

func TestMutatorRewrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pinned := f.good + "@" + f.digest.String()
	byDigest := f.reg.Ref("acme/api@" + f.digest.String())
	tests := []struct {
		name   string
		policy string
		kind   string
		object any
		want   []patchOp
	}{{
		name:   "pod tag is pinned to tag@digest",
		policy: "  pinDigests: TagAndDigest\n",
		kind:   "Pod",
		object: podObject(f.good),
		want:   rewrite("/spec/containers/0/image", f.good, pinned),
	}, {
		name:   "pod tag is pinned to the digest alone",
		policy: "  pinDigests: Digest\n",
		kind:   "Pod",
		object: podObject(f.latest, f.good),
		want: append(rewrite("/spec/containers/0/image", f.latest, f.reg.Ref("acme/api@"+f.latestDigest.String())),
			rewrite("/spec/containers/1/image", f.good, byDigest)...),
	}, {
		name:   "a reference with a digest is not re-pinned",
		policy: "  pinDigests: TagAndDigest\n",
		kind:   "Pod",
		object: podObject(pinned),
	}, {
		name:   "missing images are left for the validator",
		policy: "  pinDigests: TagAndDigest\n",
		kind:   "Pod",
		object: podObject(f.missing),
	}, {
		name:   "no pinning without the policy asking",
		kind:   "Pod",
		object: podObject(f.good),
	}, {
		name:   "deployment template is not mutated by default",
		policy: "  pinDigests: TagAndDigest\n",
		kind:   "Deployment",
		object: deployment(f.good),
	}, {
		name:   "deployment template is mutated with mutateWorkloads",
		policy: "  pinDigests: TagAndDigest\n  mutateWorkloads: true\n",
		kind:   "Deployment",
		object: deployment(f.good),
		want:   rewrite("/spec/template/spec/containers/0/image", f.good, pinned),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			view := &fakeView{policy: mustPolicy(t, tt.policy+"  platformAffinity: false\n"), platforms: nodes}
			h := handlersFor(view, f.lookup, nil)
			k := podKind
			if tt.kind == "Deployment" {
				k = gvk("apps", "v1", "Deployment")
			}
			object := raw(t, tt.object)
			resp := h.Mutator().Handle(context.Background(), create(k, object))
			if !resp.Allowed {
				t.Fatalf("mutator did not allow: %+v", resp.Result)
			}
			if diff := cmp.Diff(tt.want, resp.Patches); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			// Reinvocation: the mutated object needs no further change.
			again := h.Mutator().Handle(context.Background(), create(k, applyResponse(t, object, resp)))
			if len(again.Patches) != 0 {
				t.Errorf("second call patched again: %v", again.Patches)
			}
		})
	}
}

// requirement is a kubernetes.io/os or /arch In requirement.
func requirement(key string, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

func TestMutatorAffinity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	linuxAMD := []corev1.NodeSelectorRequirement{requirement(corev1.LabelOSStable, "linux"), requirement(corev1.LabelArchStable, "amd64")}
	zone := corev1.NodeSelectorRequirement{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}
	withAffinity := func(a *corev1.Affinity) *corev1.Pod {
		p := podObject(f.amdOnly, f.good)
		p.Spec.Affinity = a
		return p
	}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
		}}
	}
	antiAffinity := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}
	tests := []struct {
		name    string
		policy  string
		pod     *corev1.Pod
		update  bool
		want    *corev1.Affinity
		patched bool
	}{{
		name:    "a pod with an amd64-only image is kept to amd64 nodes",
		policy:  "  platformAffinity: true\n",
		pod:     withAffinity(nil),
		want:    required(corev1.NodeSelectorTerm{MatchExpressions: linuxAMD}),
		patched: true,
	}, {
		name:    "the requirement is ANDed into an existing term",
		policy:  "  platformAffinity: true\n",
		pod:     withAffinity(required(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}})),
		want:    required(corev1.NodeSelectorTerm{MatchExpressions: append([]corev1.NodeSelectorRequirement{zone}, linuxAMD...)}),
		patched: true,
	}, {
		name:   "other affinity is kept",
		policy: "  platformAffinity: true\n",
		pod:    withAffinity(antiAffinity),
		want: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}, NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: linuxAMD}}},
		}},
		patched: true,
	}, {
		name:   "already restricted: no change",
		policy: "  platformAffinity: true\n",
		pod:    withAffinity(required(corev1.NodeSelectorTerm{MatchExpressions: linuxAMD})),
		want:   required(corev1.NodeSelectorTerm{MatchExpressions: linuxAMD}),
	}, {
		name:   "without platformAffinity the pod is left alone",
		pod:    withAffinity(nil),
		policy: "  platformAffinity: false\n",
	}, {
		name:   "a pod's affinity cannot change after creation",
		policy: "  platformAffinity: true\n",
		pod:    withAffinity(nil),
		update: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			view := &fakeView{policy: mustPolicy(t, tt.policy), platforms: nodes}
			h := handlersFor(view, f.lookup, nil)
			object := raw(t, tt.pod)
			req := create(podKind, object)
			if tt.update {
				// An image changed to the amd64-only one.
				old := tt.pod.DeepCopy()
				old.Spec.Containers[0].Image = f.good
				req = update(podKind, "", raw(t, old), object)
			}
			resp := h.Mutator().Handle(context.Background(), req)
			if !resp.Allowed {
				t.Fatalf("mutator did not allow: %+v", resp.Result)
			}
			if got := len(resp.Patches) > 0; got != tt.patched {
				t.Errorf("patched = %v (%v), want %v", got, resp.Patches, tt.patched)
			}
			mutated := applyResponse(t, object, resp)
			var got corev1.Pod
			if err := json.Unmarshal(mutated, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Spec.Affinity); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
			if !tt.patched {
				return
			}
			// Idempotent: called again on its own result, nothing changes,
			// and the validator no longer warns about the arm64 nodes.
			again := h.Mutator().Handle(context.Background(), create(podKind, mutated))
			if len(again.Patches) != 0 {
				t.Errorf("second call patched again: %v", again.Patches)
			}
			v := h.Validator().Handle(context.Background(), create(podKind, mutated))
			if !v.Allowed || len(v.Warnings) != 0 {
				t.Errorf("validator on the mutated pod: allowed %v, warnings %q", v.Allowed, v.Warnings)
			}
		})
	}
}

// TestMutatorEarlyAnswers: what the mutator does not check it allows
// untouched, and records why; what it cannot read is a bad request.
func TestMutatorEarlyAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pins := &fakeView{policy: mustPolicy(t, "  pinDigests: Digest\n")}
	pod := raw(t, podObject(f.good))
	tests := []struct {
		name   string
		view   *fakeView
		req    admission.Request
		code   int32
		reason Reason
	}{
		{"delete", pins, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Kind: podKind, Operation: admissionv1.Delete, OldObject: runtime.RawExtension{Raw: pod}}}, http.StatusOK, SkippedOperation},
		{"status", pins, update(podKind, "status", pod, pod), http.StatusOK, SkippedSubresource},
		{"unchanged", pins, update(podKind, "", pod, pod), http.StatusOK, SkippedNoNewImage},
		{"config map", pins, create(gvk("", "v1", "ConfigMap"), []byte(`{"apiVersion":"v1","kind":"ConfigMap"}`)), http.StatusOK, SkippedNotWorkload},
		{"bad JSON", pins, create(podKind, []byte(`{"apiVersion":`)), http.StatusBadRequest, BadReview},
		{"policy mutates nothing", &fakeView{}, create(podKind, pod), http.StatusOK, SkippedNothingToMutate},
		{"policy unreadable", &fakeView{err: errors.New("informer gone")}, create(podKind, pod), http.StatusOK, Unchecked},
		{"view panics", &fakeView{panics: true}, create(podKind, pod), http.StatusOK, Unchecked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			resp := handlersFor(tt.view, f.lookup, rec).Mutator().Handle(context.Background(), tt.req)
			if resp.Result == nil || resp.Result.Code != tt.code || resp.Allowed != (tt.code == http.StatusOK) || len(resp.Patches) != 0 {
				t.Errorf("response %+v (patches %v), want code %d without patch", resp.AdmissionResponse, resp.Patches, tt.code)
			}
			if msg := tt.reason.Message(); msg != "" && resp.Result.Message != msg {
				t.Errorf("message %q, want %q", resp.Result.Message, msg)
			}
			if len(rec.admissions) != 1 || !strings.HasSuffix(rec.admissions[0], " mutate "+map[bool]string{true: "allowed", false: "denied"}[resp.Allowed]+" "+string(tt.reason)) {
				t.Errorf("recorded %q, want reason %q", rec.admissions, tt.reason)
			}
		})
	}
}

func TestRequirePlatforms(t *testing.T) {
	t.Parallel()
	windows := v1.Platform{OS: "windows", Architecture: "amd64"}
	linux := requirement(corev1.LabelOSStable, "linux")
	both := requirement(corev1.LabelArchStable, "amd64", "arm64")
	zone := func(z string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{z}}
	}
	term := func(rs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: rs}
	}
	sel := func(ts ...corev1.NodeSelectorTerm) *corev1.NodeSelector {
		return &corev1.NodeSelector{NodeSelectorTerms: ts}
	}
	tests := []struct {
		name      string
		sel       *corev1.NodeSelector
		platforms []v1.Platform
		want      *corev1.NodeSelector
		changed   bool
	}{{
		name:      "new selector, arches sorted",
		platforms: []v1.Platform{arm64, amd64},
		want:      sel(term(linux, both)),
		changed:   true,
	}, {
		name:      "each OS its own term when their arches differ",
		platforms: []v1.Platform{arm64, amd64, windows},
		want: sel(
			term(linux, both),
			term(requirement(corev1.LabelOSStable, "windows"), requirement(corev1.LabelArchStable, "amd64"))),
		changed: true,
	}, {
		name:      "ANDed into every term",
		sel:       sel(term(zone("a")), term(zone("b"))),
		platforms: []v1.Platform{amd64, arm64},
		want:      sel(term(zone("a"), linux, both), term(zone("b"), linux, both)),
		changed:   true,
	}, {
		name:      "already there",
		sel:       sel(term(zone("a"), linux, both)),
		platforms: []v1.Platform{amd64, arm64},
		want:      sel(term(zone("a"), linux, both)),
	}, {
		name:      "no platforms, no change",
		sel:       sel(term(zone("a"))),
		platforms: []v1.Platform{{}},
		want:      sel(term(zone("a"))),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, changed := requirePlatforms(tt.sel, tt.platforms)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
		})
	}
}

// TestMutatorEphemeralContainer: `kubectl debug` adds an ephemeral
// container through its subresource; only that new image is pinned.
func TestMutatorEphemeralContainer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := handlersFor(&fakeView{policy: mustPolicy(t, "  pinDigests: Digest\n  platformAffinity: true\n"), platforms: nodes}, f.lookup, nil)
	old := podObject(f.good)
	debugged := old.DeepCopy()
	debugged.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: f.amdOnly},
	}}
	resp := h.Mutator().Handle(context.Background(), update(podKind, "ephemeralcontainers", raw(t, old), raw(t, debugged)))
	want := rewrite("/spec/ephemeralContainers/0/image", f.amdOnly, f.reg.Ref("acme/amd@"+f.amdDigest.String()))
	if diff := cmp.Diff(want, resp.Patches); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

// The mutating call asks no registry when the policy could not change the
// object, so a slow registry costs the user one lookup, in the validating call.
func TestMutatorSkipsLookupsWhenNothingCanChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name         string
		policy       *policies.Policy
		req          admission.Request
		wantRequests bool
	}{
		{"built-in policy, pod", policies.Default(), create(gvk("", "v1", "Pod"), raw(t, podObject(f.good))), false},
		{"pinning, deployment without mutateWorkloads", mustPolicy(t, "  pinDigests: Digest\n"), create(gvk("apps", "v1", "Deployment"), raw(t, deployment(f.good))), false},
		{"pinning, pod", mustPolicy(t, "  pinDigests: Digest\n"), create(gvk("", "v1", "Pod"), raw(t, podObject(f.good))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the registry's request count.
			before := f.reg.Requests()
			h := handlersFor(&fakeView{policy: tt.policy, platforms: nodes}, lookupFor(f.reg.Host), nil)
			resp := h.Mutator().Handle(context.Background(), tt.req)
			if !resp.Allowed {
				t.Fatalf("mutator denied: %+v", resp.Result)
			}
			if got := f.reg.Requests() > before; got != tt.wantRequests {
				t.Errorf("registry asked = %v, want %v", got, tt.wantRequests)
			}
		})
	}
}

// A patch decided for one object is refused as a whole by the API server's
// patcher (evanphx/json-patch v4, as k8s.io/apiserver's mutating dispatcher
// applies it) when the image it rewrites has moved: another webhook
// reordered the containers, or changed the image, in between.
func TestStalePatchIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := handlersFor(&fakeView{policy: mustPolicy(t, "  pinDigests: Digest\n  platformAffinity: false\n"), platforms: nodes}, f.lookup, nil)
	object := raw(t, podObject(f.good, f.latest))
	resp := h.Mutator().Handle(context.Background(), create(podKind, object))
	b, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := apiserverjsonpatch.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := patch.Apply(object); err != nil {
		t.Fatalf("the patch does not apply to the object it was decided for: %v", err)
	}
	reordered := raw(t, podObject(f.latest, f.good))
	if out, err := patch.Apply(reordered); err == nil {
		t.Fatalf("a patch for another container order applied: %s", out)
	}
}
