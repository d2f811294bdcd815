package policies

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// TestEvaluateBrokenContent: what the registry lost of an image fails the
// pull wherever a node would fetch it. Lost everywhere the pod can land is
// NotFound (the image is broken, not built for the wrong platform); lost
// for some platforms is partial support (a warning, or affinity to the
// platforms that pull); lost where no node pulls is nothing.
func TestEvaluateBrokenContent(t *testing.T) {
	t.Parallel()
	amdEntry, armEntry := digestOf("amd"), digestOf("arm")
	lostArm := image.Broken{Manifest: armEntry, Part: image.PartManifest, Missing: armEntry, Answer: "404 MANIFEST_UNKNOWN"}
	index := func(nodes []v1.Platform, broken ...image.Broken) Result {
		r := use(t, "ghcr.io/acme/api:v1", amd64, arm64)
		r.Facts.Manifests = []v1.Hash{amdEntry, armEntry}
		r.Facts.Broken = broken
		r.Nodes = nodesOf(nodes...)
		return r
	}
	single := use(t, "ghcr.io/acme/api:v1")
	single.Facts.MediaType = types.OCIManifestSchema1
	single.Facts.Platforms = []v1.Platform{amd64}
	layer := digestOf("layer")
	single.Facts.Broken = []image.Broken{{Manifest: testDigest, Part: image.PartLayer, Missing: layer, Answer: "404 Not Found"}}

	affinity := compile(t, v1alpha1.ImagePolicySpec{PlatformAffinity: true})
	tests := []struct {
		name       string
		p          *Policy
		r          Result
		wantClass  image.Class
		wantAction Action
		wantInMsg  []string
		wantPinned bool
	}{
		{name: "lost entry, only its platform's nodes", p: Default(), r: index([]v1.Platform{arm64}, lostArm),
			wantClass: image.NotFound, wantAction: Deny,
			wantInMsg: []string{"cannot be pulled", "linux/arm64", armEntry.String(), "404 MANIFEST_UNKNOWN", "broken in the registry"}},
		{name: "lost entry, nodes of both platforms", p: Default(), r: index([]v1.Platform{amd64, arm64}, lostArm),
			wantClass: image.PlatformMismatch, wantAction: Warn,
			wantInMsg: []string{"runs on linux/amd64 but not on linux/arm64", armEntry.String()}},
		{name: "lost entry, affinity pins the pod", p: affinity, r: index([]v1.Platform{amd64, arm64}, lostArm), wantPinned: true},
		{name: "lost entry no node pulls", p: Default(), r: index([]v1.Platform{amd64}, lostArm)},
		{name: "single manifest's layer lost, no nodes known", p: Default(), r: single,
			wantClass: image.NotFound, wantAction: Deny,
			wantInMsg: []string{"the layer " + layer.String() + " of manifest " + testDigest.String(), "push the image again"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tc.p.Evaluate(Input{Object: podObject, Results: []Result{tc.r}})
			if tc.wantPinned {
				if len(d.Findings) != 0 || len(d.Affinity) != 1 || len(d.Affinity[0].Platforms) != 1 || !image.SamePlatform(d.Affinity[0].Platforms[0], amd64) {
					t.Fatalf("findings %+v, affinity %+v; want the pod pinned to linux/amd64 alone", d.Findings, d.Affinity)
				}
				return
			}
			if tc.wantClass == "" {
				if len(d.Findings) != 0 {
					t.Fatalf("findings = %+v, want none", d.Findings)
				}
				return
			}
			if len(d.Findings) != 1 {
				t.Fatalf("findings = %+v, want one", d.Findings)
			}
			f := d.Findings[0]
			t.Logf("%s: %s; fix: %s", f.Class, f.Message, f.Fix)
			if f.Class != tc.wantClass || f.Action != tc.wantAction {
				t.Errorf("finding %s/%s, want %s/%s", f.Class, f.Action, tc.wantClass, tc.wantAction)
			}
			for _, s := range tc.wantInMsg {
				if !strings.Contains(f.Message+" "+f.Fix, s) {
					t.Errorf("message %q, fix %q: want %q in it", f.Message, f.Fix, s)
				}
			}
		})
	}
}

func digestOf(s string) v1.Hash {
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return h
}
