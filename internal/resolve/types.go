// Package resolve turns an image reference into facts about it — its digest and
// the platforms it has — by asking the image's registry with go-containerregistry,
// and classifies every failure into one of image's finding classes.
package resolve

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pullguard/pullguard/internal/image"
)

// Credentials are the credentials a lookup may use: a keychain that answers
// per registry host (matched exactly, never by prefix), plus a stable,
// non-secret identity of what it would answer so caches never share a result
// between callers holding different credentials.
type Credentials interface {
	authn.Keychain
	// Identity is a stable fingerprint (e.g. a truncated SHA-256) of the
	// credential Resolve would send to registry, or "" for anonymous. It must
	// not reveal the credential.
	Identity(registry string) string
	// Sources names where the credentials for registry came from, for
	// messages ("secret team-a/regcred", "docker config /etc/pullguard/config.json").
	// Empty when nothing matched.
	Sources(registry string) []string
}

// Request is one lookup.
type Request struct {
	Ref         image.Reference
	Credentials Credentials // nil means anonymous
	Mirrors     []image.Mirror
}

// Lookup is what the front doors need from a resolver; tests can give a fake.
type Lookup interface {
	Resolve(ctx context.Context, req Request) (image.Facts, error)
}
