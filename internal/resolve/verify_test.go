package resolve

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// entryOf is the digest of index repo:tag's entry for p.
func entryOf(t *testing.T, reg *registrytest.Registry, repoTag string, p v1.Platform) v1.Hash {
	t.Helper()
	idx, err := remote.Index(mustParse(t, reg.Ref(repoTag)))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Equals(p) {
			return m.Digest
		}
	}
	t.Fatalf("%s has no %s entry", repoTag, image.PlatformName(p))
	return v1.Hash{}
}

// blobsOfImage is the config and layer digests of the image ref names.
func blobsOfImage(t *testing.T, ref string) (config v1.Hash, layers []v1.Hash) {
	t.Helper()
	img, err := remote.Image(mustParse(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		layers = append(layers, l.Digest)
	}
	return m.Config.Digest, layers
}

func mustParse(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestVerifyFindsWhatTheRegistryLost: the entry each node's platform pulls
// is fetched and must exist; at VerifyLayers its blobs are asked for too; a
// single manifest's config is always read. What is missing is a Broken
// entry naming the manifest, the part and the digest, and nothing else is.
func TestVerifyFindsWhatTheRegistryLost(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)

	reg.PushIndex(t, "lost/entry:v1", linuxAMD64, linuxARM64)
	armEntry := entryOf(t, reg, "lost/entry:v1", linuxARM64)
	reg.DeleteManifest(t, "lost/entry", armEntry)

	reg.PushIndex(t, "lost/entry-layer:v1", linuxAMD64, linuxARM64)
	amdEntry := entryOf(t, reg, "lost/entry-layer:v1", linuxAMD64)
	_, entryLayers := blobsOfImage(t, reg.Ref("lost/entry-layer@"+amdEntry.String()))
	reg.DeleteBlob(t, entryLayers[0])

	single := reg.PushImage(t, "lost/layer:v1", linuxAMD64)
	_, layers := blobsOfImage(t, reg.Ref("lost/layer:v1"))
	reg.DeleteBlob(t, layers[0])

	singleCfg := reg.PushImage(t, "lost/config:v1", linuxAMD64)
	cfg, _ := blobsOfImage(t, reg.Ref("lost/config:v1"))
	reg.DeleteBlob(t, cfg)

	reg.PushIndex(t, "whole/index:v1", linuxAMD64, linuxARM64)
	reg.PushImage(t, "whole/single:v1", linuxAMD64)

	both := []v1.Platform{linuxAMD64, linuxARM64}
	tests := []struct {
		name      string
		image     string
		platforms []v1.Platform
		depth     image.Depth
		want      []image.Broken // Answer not compared
	}{
		{name: "entry gone, its platform", image: "lost/entry:v1", platforms: []v1.Platform{linuxARM64},
			want: []image.Broken{{Manifest: armEntry, Part: image.PartManifest, Missing: armEntry}}},
		{name: "entry gone, both platforms", image: "lost/entry:v1", platforms: both,
			want: []image.Broken{{Manifest: armEntry, Part: image.PartManifest, Missing: armEntry}}},
		{name: "entry gone, another platform's nodes", image: "lost/entry:v1", platforms: []v1.Platform{linuxAMD64}},
		{name: "entry gone, no nodes known", image: "lost/entry:v1"},
		{name: "entry's layer gone, manifests only", image: "lost/entry-layer:v1", platforms: both},
		{name: "entry's layer gone, layers", image: "lost/entry-layer:v1", platforms: both, depth: image.VerifyLayers,
			want: []image.Broken{{Manifest: amdEntry, Part: image.PartLayer, Missing: entryLayers[0]}}},
		{name: "single's layer gone, manifests only", image: "lost/layer:v1", platforms: both},
		{name: "single's layer gone, layers", image: "lost/layer:v1", depth: image.VerifyLayers,
			want: []image.Broken{{Manifest: single, Part: image.PartLayer, Missing: layers[0]}}},
		{name: "single's config gone", image: "lost/config:v1",
			want: []image.Broken{{Manifest: singleCfg, Part: image.PartConfig, Missing: cfg}}},
		{name: "whole index, layers", image: "whole/index:v1", platforms: both, depth: image.VerifyLayers},
		{name: "whole single, layers", image: "whole/single:v1", platforms: both, depth: image.VerifyLayers},
	}
	r := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := image.Parse(reg.Ref(tc.image))
			if err != nil {
				t.Fatal(err)
			}
			facts, err := r.Resolve(testContext(t), Request{Ref: ref, Platforms: tc.platforms, Depth: tc.depth})
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if len(facts.Broken) != len(tc.want) {
				t.Fatalf("Broken = %+v, want %+v", facts.Broken, tc.want)
			}
			for i, b := range facts.Broken {
				w := tc.want[i]
				if b.Manifest != w.Manifest || b.Part != w.Part || b.Missing != w.Missing || b.Answer == "" {
					t.Errorf("Broken[%d] = %+v, want %+v with an answer", i, b, w)
				}
			}
		})
	}
}

// TestVerifyCostsOnce: an entry verified is kept (content by digest does
// not change), so the next lookup of the tag asks for it no more; a blob's
// presence is kept for the tag TTL.
func TestVerifyCostsOnce(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushIndex(t, "team/app:v1", linuxAMD64, linuxARM64)
	amd := entryOf(t, reg, "team/app:v1", linuxAMD64)
	arm := entryOf(t, reg, "team/app:v1", linuxARM64)
	_, layers := blobsOfImage(t, reg.Ref("team/app@"+amd.String()))

	r := New(WithTagTTL(time.Hour))
	ref, err := image.Parse(reg.Ref("team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	type request struct {
		method, path string
		want         int
	}
	asked := []request{
		{"GET", "/v2/team/app/manifests/" + amd.String(), 1},
		{"GET", "/v2/team/app/manifests/" + arm.String(), 0}, // no arm64 node
		{"HEAD", "/v2/team/app/blobs/" + layers[0].String(), 1},
	}
	before := make([]int, len(asked)) // the pushes and the test's own reads
	for i, c := range asked {
		before[i] = reg.Served(c.method, c.path)
	}
	for range 3 {
		if _, err := r.Resolve(testContext(t), Request{Ref: ref, Platforms: []v1.Platform{linuxAMD64}, Depth: image.VerifyLayers}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range asked {
		if got := reg.Served(c.method, c.path) - before[i]; got != c.want {
			t.Errorf("%s %s served %d times, want %d", c.method, c.path, got, c.want)
		}
	}
}

// TestVerifyFailureIsTheLookups: a registry that stops answering while the
// entry is fetched fails the lookup as Unreachable (the policy's
// onRegistryError decides), never a Broken verdict on a guess.
func TestVerifyFailureIsTheLookups(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushIndex(t, "team/app:v1", linuxAMD64)
	r := New(WithMaxFlight(1500 * time.Millisecond)) // the hung request ends with it
	ref, err := image.Parse(reg.Ref("team/app:v1"))
	if err != nil {
		t.Fatal(err)
	}
	// The index is kept; the entry was never asked for.
	if _, err := r.Resolve(testContext(t), Request{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	reg.Hang()
	ctx, cancel := context.WithTimeout(testContext(t), time.Second)
	defer cancel()
	facts, err := r.Resolve(ctx, Request{Ref: ref, Platforms: []v1.Platform{linuxAMD64}})
	if c := classOf(err); c != image.Unreachable {
		t.Fatalf("Resolve = %+v, %v; want Unreachable", facts, err)
	}
}
