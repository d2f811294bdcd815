package image

import (
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

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
	// FormTagDigest: "repo:tag@sha256:..."; the digest wins when pulling
	// (containerd's ParseDockerRef drops the tag).
	FormTagDigest
)

// DefaultTag is the tag the kubelet pulls when a reference names none.
const DefaultTag = "latest"

// Reference is a parsed image reference together with what the user wrote.
// Its Repository is spelled as the kubelet and containerd spell it
// (distribution/reference's normalized name): "nginx" is
// "docker.io/library/nginx".
type Reference struct {
	// Original is the string exactly as written in the manifest.
	Original string
	// Repository is the normalized repository: domain and path
	// ("docker.io/library/nginx", "ghcr.io/acme/api", "127.0.0.1:5000/a/b").
	Repository string
	// Registry is the host containerd dials for Repository: its first
	// component, as written but for Docker Hub, which is always "docker.io"
	// ("ghcr.io", "127.0.0.1:5000", "[::1]:5000").
	Registry string
	// Path is the repository path within Registry ("library/nginx").
	Path string
	// Tag is the tag written, "latest" for FormImplicitLatest, "" for FormDigest.
	Tag string
	// Digest is the digest written ("sha256:..."), or "".
	Digest string
	Form   Form
}

// Parse parses an image reference exactly as the kubelet does before it
// pulls (distribution/reference's ParseNormalizedNamed, which containerd's
// ParseDockerRef also runs): what it rejects, the kubelet fails with
// InvalidImageName. Every failure is an *Error of class InvalidReference
// whose Reason says which rule broke.
func Parse(s string) (Reference, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, &Error{Class: InvalidReference, Image: s, Reason: explain(s, err), Err: err}
	}
	// The host is the first component of the name, as containerd's
	// resolver takes it (reference.Spec.Hostname): distribution leaves the
	// domain empty for a first component such as "my_reg.io" that fits the
	// path grammar but not the domain grammar, and containerd still dials it.
	r := Reference{Original: s, Repository: named.Name()}
	r.Registry, r.Path, _ = strings.Cut(r.Repository, "/")
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest().String()
	}
	switch {
	case r.Digest != "" && r.Tag != "":
		r.Form = FormTagDigest
	case r.Digest != "":
		r.Form = FormDigest
	case r.Tag == DefaultTag:
		r.Form = FormLatest
	case r.Tag != "":
		r.Form = FormTag
	default:
		r.Form = FormImplicitLatest
		r.Tag = DefaultTag
	}
	return r, nil
}

// TagWritten reports whether the user wrote a tag.
func (r Reference) TagWritten() bool {
	return r.Form == FormLatest || r.Form == FormTag || r.Form == FormTagDigest
}

// String is the normalized reference with only the parts the user wrote:
// "nginx:1.27" → "docker.io/library/nginx:1.27", "nginx" →
// "docker.io/library/nginx". It parses back to the same Reference (but for
// Original).
func (r Reference) String() string {
	s := r.Repository
	if r.TagWritten() {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Qualified is the normalized reference with the tag the kubelet pulls made
// explicit: "nginx" → "docker.io/library/nginx:latest". Patterns in policies
// match it.
func (r Reference) Qualified() string {
	s := r.Repository
	if r.Tag != "" && r.Form != FormDigest {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// RegistryImplied reports whether the user wrote no registry, so that the
// name means Docker Hub: "nginx" is "docker.io/library/nginx", "acme/api"
// is "docker.io/acme/api" — a surprise when the image was meant to come
// from a private registry.
func (r Reference) RegistryImplied() bool {
	w := r.WrittenName()
	return r.Registry == "docker.io" && !strings.HasPrefix(w, "docker.io/") && !strings.HasPrefix(w, "index.docker.io/")
}

// WrittenName is the registry and repository as the user wrote them
// ("nginx", not "docker.io/library/nginx"): Original without the digest and
// the written tag.
func (r Reference) WrittenName() string {
	if r.Original == "" {
		return r.Repository
	}
	s, _, _ := strings.Cut(r.Original, "@")
	if r.TagWritten() {
		s = strings.TrimSuffix(s, ":"+r.Tag)
	}
	return s
}

// Pinned is the reference pinned to d in the repository form the user
// wrote: "nginx:1.27" → "nginx:1.27@sha256:…" (keepTag) or "nginx@sha256:…".
// A tag is kept only if one was written.
func (r Reference) Pinned(d v1.Hash, keepTag bool) string {
	s := r.WrittenName()
	if keepTag && r.TagWritten() {
		s += ":" + r.Tag
	}
	return s + "@" + d.String()
}

// WithRepository is the same tag and digest in another repository, such as a
// mirror's ("mirror.example.com/dockerhub/library/nginx"). The result's
// Original is its own written form.
func (r Reference) WithRepository(repo string) (Reference, error) {
	s := repo
	if r.TagWritten() {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return Parse(s)
}
