package image

import (
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
	// ResolvedRepository is the repository that answered: the mirror's when a
	// mirror rule applied and answered, else the reference's own.
	ResolvedRepository string
}
