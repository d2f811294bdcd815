// Package resolve turns an image reference into facts about it — its digest and
// the platforms it has — by asking the image's registry with go-containerregistry,
// and classifies every failure into one of the finding classes below.
package resolve

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Class names one reason an image would fail to pull, or a rule it breaks.
// The strings are part of the API: they appear in policies, JSON output and
// metrics labels.
type Class string

// The finding classes of DESIGN.md.
const (
	NotFound           Class = "NotFound"
	Unauthorized       Class = "Unauthorized"
	Forbidden          Class = "Forbidden"
	RateLimited        Class = "RateLimited"
	Unreachable        Class = "Unreachable"
	PlatformMismatch   Class = "PlatformMismatch"
	InvalidReference   Class = "InvalidReference"
	ImplicitLatest     Class = "ImplicitLatest"
	LatestTag          Class = "LatestTag"
	RegistryNotAllowed Class = "RegistryNotAllowed"
	AddressBlocked     Class = "AddressBlocked"
)

// Classes lists every class, in a stable order (for validation and docs).
var Classes = []Class{
	InvalidReference, ImplicitLatest, LatestTag, NotFound, Unauthorized, Forbidden,
	RateLimited, Unreachable, PlatformMismatch, RegistryNotAllowed, AddressBlocked,
}

// Form says what the user wrote after the repository.
type Form int

const (
	// FormImplicitLatest: no tag and no digest ("nginx"); the kubelet pulls :latest.
	FormImplicitLatest Form = iota
	// FormLatest: an explicit ":latest".
	FormLatest
	// FormTag: any other tag.
	FormTag
	// FormDigest: "@sha256:..." only.
	FormDigest
	// FormTagDigest: "repo:tag@sha256:..."; the digest wins when pulling.
	FormTagDigest
)

// Reference is a parsed image reference together with what the user wrote.
type Reference struct {
	// Original is the string exactly as written in the manifest.
	Original string
	// Repository is the fully qualified repository (defaults applied:
	// "nginx" → "index.docker.io/library/nginx").
	Repository string
	// Registry is the registry host of Repository ("index.docker.io", "ghcr.io", "127.0.0.1:5000").
	Registry string
	// Tag is the tag written, "latest" for FormImplicitLatest, "" for FormDigest.
	Tag string
	// Digest is the digest written ("sha256:..."), or "".
	Digest string
	Form   Form
}

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

// Error is a classified resolution failure. It never carries credentials.
type Error struct {
	Class Class
	// Image is the reference as written.
	Image string
	// Registry is the host that was asked (or would have been).
	Registry string
	// StatusCode is the HTTP status when the registry answered, else 0.
	StatusCode int
	// Reason is a short, human sentence in lower case of what went wrong,
	// e.g. `registry answered 404 MANIFEST_UNKNOWN "manifest unknown"`.
	Reason string
	// Suggestions are up to 3 existing tags nearest to the missing one (NotFound on a tag).
	Suggestions []string
	// Err is the underlying error, for errors.Is/As.
	Err error
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return string(e.Class) + ": " + e.Image
	}
	return string(e.Class) + ": " + e.Image + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

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

// Mirror maps a registry host or repository prefix to a mirror prefix:
// {From: "docker.io", To: "mirror.example.com/dockerhub"} resolves
// "docker.io/library/nginx:1.27" as "mirror.example.com/dockerhub/library/nginx:1.27".
type Mirror struct {
	From string
	To   string
	// FallbackToSource asks the source too when the mirror fails in any
	// way, a NotFound included (runtimes fall back from a mirror the same
	// way, so the pull would still succeed from the source); Facts say
	// which answered. Without it the mirror's answer is final.
	FallbackToSource bool
}

// Request is one lookup.
type Request struct {
	Ref         Reference
	Credentials Credentials // nil means anonymous
	Mirrors     []Mirror
}

// Lookup is what the front doors need from a resolver; tests can give a fake.
type Lookup interface {
	Resolve(ctx context.Context, req Request) (Facts, error)
}
