package policies

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func TestEvaluatePinDigests(t *testing.T) {
	t.Parallel()
	d := testDigest.String()
	written := "sha256:" + "cd" + testDigest.Hex[2:]
	tests := []struct {
		image string
		pin   v1alpha1.PinDigests
		want  string // "" for no rewrite
	}{
		{"ghcr.io/acme/api:v1", v1alpha1.PinOff, ""},
		{"ghcr.io/acme/api:v1", v1alpha1.PinTagAndDigest, "ghcr.io/acme/api:v1@" + d},
		{"ghcr.io/acme/api:v1", v1alpha1.PinDigest, "ghcr.io/acme/api@" + d},
		{"nginx:1.27", v1alpha1.PinTagAndDigest, "nginx:1.27@" + d},
		{"nginx", v1alpha1.PinTagAndDigest, "nginx@" + d},
		{"nginx:latest", v1alpha1.PinDigest, "nginx@" + d},
		{"localhost:5000/app:v2", v1alpha1.PinTagAndDigest, "localhost:5000/app:v2@" + d},
		{"ghcr.io/acme/api@" + written, v1alpha1.PinDigest, ""},
		{"ghcr.io/acme/api:v1@" + written, v1alpha1.PinTagAndDigest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.image+"/"+string(tc.pin), func(t *testing.T) {
			t.Parallel()
			p := compile(t, v1alpha1.ImagePolicySpec{PinDigests: tc.pin})
			dec := p.Evaluate(Input{Object: podObject, Results: []Result{use(t, tc.image)}})
			var want []Rewrite
			if tc.want != "" {
				want = []Rewrite{{Pointer: "/spec/containers/0/image", Container: "app", From: tc.image, To: tc.want, Reasons: []string{ReasonPinDigest}}}
			}
			if diff := cmp.Diff(want, dec.Rewrites); diff != "" {
				t.Errorf("rewrites (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateMirrorRewrite(t *testing.T) {
	t.Parallel()
	const mirror = "mirror.example.com/dockerhub/library/nginx"
	digestOnly := "nginx@" + testDigest.String()
	tests := []struct {
		name, image string
		pin         v1alpha1.PinDigests
		workloads   bool
		obj         string
		want        []Rewrite
	}{{
		name: "mirror only", image: "nginx:1.27", pin: v1alpha1.PinOff, obj: "Pod",
		want: []Rewrite{{From: "nginx:1.27", To: mirror + ":1.27", Reasons: []string{ReasonMirror}}},
	}, {
		name: "mirror and pin in one rewrite", image: "nginx:1.27", pin: v1alpha1.PinDigest, obj: "Pod",
		want: []Rewrite{{From: "nginx:1.27", To: mirror + "@" + testDigest.String(), Reasons: []string{ReasonMirror, ReasonPinDigest}}},
	}, {
		name: "digest kept on the mirror", image: digestOnly, pin: v1alpha1.PinTagAndDigest, obj: "Pod",
		want: []Rewrite{{From: digestOnly, To: mirror + "@" + testDigest.String(), Reasons: []string{ReasonMirror}}},
	}, {
		name: "workload not mutated by default", image: "nginx:1.27", pin: v1alpha1.PinDigest, obj: "Deployment",
	}, {
		name: "workload mutated when asked", image: "nginx:1.27", pin: v1alpha1.PinOff, obj: "Deployment", workloads: true,
		want: []Rewrite{{From: "nginx:1.27", To: mirror + ":1.27", Reasons: []string{ReasonMirror}}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := compile(t, v1alpha1.ImagePolicySpec{
				PinDigests:      tc.pin,
				MutateWorkloads: tc.workloads,
				Mirrors:         []v1alpha1.Mirror{{From: "docker.io", To: "mirror.example.com/dockerhub"}},
			})
			r := use(t, tc.image)
			r.Facts.ResolvedRepository = mirror
			obj := podObject
			obj.Kind = tc.obj
			dec := p.Evaluate(Input{Object: obj, Results: []Result{r}})
			for i := range tc.want {
				tc.want[i].Pointer, tc.want[i].Container = r.Use.Pointer, "app"
			}
			if diff := cmp.Diff(tc.want, dec.Rewrites); diff != "" {
				t.Errorf("rewrites (-want +got):\n%s", diff)
			}
		})
	}
}
