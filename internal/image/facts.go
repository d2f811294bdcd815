package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Facts is what a registry said about one reference.
type Facts struct {
	// Digest of the top-level manifest (the index for multi-platform images).
	Digest v1.Hash
	// MediaType of the top-level manifest.
	MediaType types.MediaType
	// Platforms the image can run on: the index's entries (attestation
	// entries with platform unknown/unknown excluded), or the os/arch of a
	// single manifest's config.
	Platforms []v1.Platform
	// Manifests are, for an index, the digests of the entries whose
	// platforms Platforms lists, in the same order: Manifests[i] is the
	// manifest a node pulls for Platforms[i]. Empty for a single manifest.
	Manifests []v1.Hash
	// Broken is content the image names that its registry does not have,
	// among what the lookup verified (see Depth): a pull of it fails.
	Broken []Broken
	// ResolvedRepository is the repository that answered: the mirror's when a
	// mirror rule applied and answered, else the reference's own.
	ResolvedRepository string
	// Authenticated says the answer came with a credential (which pull
	// budget it drew on: see PullBudget).
	Authenticated bool
}

// BrokenIn is the first of f.Broken that concerns the manifest m, if any.
func (f Facts) BrokenIn(m v1.Hash) (Broken, bool) {
	for _, b := range f.Broken {
		if b.Manifest == m {
			return b, true
		}
	}
	return Broken{}, false
}

// Depth is how much of an image a lookup makes sure its registry really
// has, beyond the tag or digest the pod names. containerd fetches the
// manifest for the node's platform, its config and every layer, and a pull
// fails on the first that is missing ("content ... not found"); an index
// can name a manifest that was deleted or garbage-collected, a manifest a
// blob that never finished uploading.
type Depth int

const (
	// VerifyManifests fetches, by digest, the manifest a node of each
	// platform the pod can land on would pull: it must exist and parse.
	// The default. Docker Hub counts an index and one manifest GET as one
	// pull, as the kubelet's own pull does.
	VerifyManifests Depth = iota
	// VerifyLayers also asks (HEAD, which Docker Hub does not count) for
	// the config and every layer of those manifests.
	VerifyLayers
)

// Part names what a Broken digest is, as containerd's errors name it.
type Part string

// The parts of an image.
const (
	PartManifest Part = "manifest"
	PartConfig   Part = "config"
	PartLayer    Part = "layer"
)

// Broken is content an image names that its registry does not have.
type Broken struct {
	// Manifest is the manifest concerned: the index entry a node pulls, or
	// the single top-level manifest.
	Manifest v1.Hash
	// Part and Missing are what the registry does not have: Manifest
	// itself, its config or one of its layers.
	Part    Part
	Missing v1.Hash
	// Answer is what the registry said, e.g. `404 MANIFEST_UNKNOWN`, or why
	// the manifest does not parse.
	Answer string
}

// Sentence says it for messages: what is missing, and why a pull fails.
func (b Broken) Sentence() string {
	what := fmt.Sprintf("the manifest %s", b.Missing)
	if b.Part != PartManifest {
		what = fmt.Sprintf("the %s %s of manifest %s", b.Part, b.Missing, b.Manifest)
	}
	return fmt.Sprintf("the registry does not have %s (%s): the image is broken in the registry (deleted, garbage-collected or never fully pushed), and containerd fails the pull with \"not found\"", what, b.Answer)
}
