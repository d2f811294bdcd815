// Package resolve turns an image reference into facts about it — its digest,
// the platforms it has, and what of the content a node would pull its
// registry does not have (verify.go) — by asking the image's registry with
// go-containerregistry, and classifies every failure into one of image's
// finding classes.
package resolve

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
)

// Credentials are the credentials the kubelet would try for a pod's
// images: for each repository an ordered list, tried one after the other
// until the registry accepts one, as the kubelet does (keychain.Keychain
// implements it; internal/cluster adds the pod's secrets that gave nothing).
//
// It is not an authn.Keychain: that answers one authenticator per
// registry, so it can only ever send the first match.
type Credentials interface {
	// Candidates are the credentials for repository (a normalized name,
	// image.Reference.Repository) in the kubelet's order; none means it
	// pulls anonymously. Credential provider plugins run under ctx. An
	// error (wrapping image.ErrUnreadablePullSecret) means the kubelet
	// fails the pull before asking any registry. A candidate with a
	// Failure is a credential provider that gave nothing: it is named,
	// never sent.
	Candidates(ctx context.Context, repository string) ([]keychain.Credential, error)
	// Skipped names, for messages, the sources the kubelet reads for the
	// pod that hold nothing for it, with why ("secret team-a/regcred (not
	// found)"): any of them might have been meant for the image.
	Skipped() []string
}

// Request is one lookup.
type Request struct {
	Ref         image.Reference
	Credentials Credentials // nil means anonymous
	Mirrors     []image.Mirror
	// Platforms are those of the nodes the pod can land on: the index
	// entry each would pull is verified to Depth. None verifies no entry
	// (a single manifest's blobs still are, at VerifyLayers).
	Platforms []v1.Platform
	Depth     image.Depth
}

// Lookup is what the front doors need from a resolver; tests can give a fake.
type Lookup interface {
	Resolve(ctx context.Context, req Request) (image.Facts, error)
}
