package resolve

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
)

// pathComponent is one repository path component in the distribution
// reference grammar the kubelet's runtimes (containerd, CRI-O) enforce.
// go-containerregistry's own check only looks at the character set, so it
// accepts "a//b", "-x" or "x_" that the kubelet then rejects with
// InvalidImageName; this closes that gap.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// tagPattern is the distribution grammar for tags: go-containerregistry
// accepts a leading '.' or '-', runtimes do not.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// written is a reference split into the parts the user wrote.
type written struct {
	name   string // registry and repository as written ("nginx", "ghcr.io/acme/api")
	tag    string // "" when no tag was written
	digest string // "" when no digest was written
}

// ParseReference parses an image reference the way the kubelet would, and
// records what the user wrote. Every failure is an *Error of class
// InvalidReference whose Reason says what to fix.
func ParseReference(s string) (Reference, error) {
	w, reason := split(s)
	if reason != "" {
		return Reference{}, invalid(s, reason, nil)
	}
	parseable := w.name
	if w.tag != "" {
		parseable += ":" + w.tag
	}
	if w.digest != "" {
		parseable += "@" + w.digest
	}
	// Weak validation applies Docker Hub defaults; what StrictValidation
	// would add (an explicit registry) is exactly what users may omit.
	ref, err := name.ParseReference(parseable)
	if err != nil {
		return Reference{}, invalid(s, "does not parse: "+err.Error(), err)
	}
	r := Reference{
		Original:   s,
		Repository: ref.Context().Name(),
		Registry:   ref.Context().RegistryStr(),
		Tag:        w.tag,
		Digest:     w.digest,
	}
	switch {
	case w.digest != "" && w.tag != "":
		r.Form = FormTagDigest
	case w.digest != "":
		r.Form = FormDigest
	case w.tag == name.DefaultTag:
		r.Form = FormLatest
	case w.tag != "":
		r.Form = FormTag
	default:
		r.Form = FormImplicitLatest
		r.Tag = name.DefaultTag
	}
	return r, nil
}

func invalid(s, reason string, err error) *Error {
	return &Error{Class: InvalidReference, Image: s, Reason: reason, Err: err}
}

// split checks s against the reference grammar and splits it, returning a
// reason in words when it does not fit.
func split(s string) (written, string) {
	switch {
	case s == "":
		return written{}, "reference is empty"
	case strings.TrimSpace(s) != s:
		return written{}, "reference has leading or trailing whitespace"
	case strings.Contains(s, "://"):
		return written{}, `reference must not contain a URL scheme such as "https://"`
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }):
		return written{}, "reference contains whitespace, control or non-ASCII characters"
	}
	var w written
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest, w.digest = s[:i], s[i+1:]
		if strings.Contains(w.digest, "@") {
			return written{}, `reference has more than one "@"`
		}
		if reason := checkDigest(w.digest); reason != "" {
			return written{}, reason
		}
	}
	// A colon after the last slash starts a tag; one before it is a port.
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		rest, w.tag = rest[:i], rest[i+1:]
		if w.tag == "" {
			return written{}, `tag is empty after ":"`
		}
		if !tagPattern.MatchString(w.tag) {
			return written{}, fmt.Sprintf("tag %q must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'", w.tag)
		}
	}
	w.name = rest
	if rest == "" {
		return written{}, "repository is empty"
	}
	if reason := checkRepository(rest); reason != "" {
		return written{}, reason
	}
	return w, ""
}

// checkRepository checks the repository path, leaving the registry host (the
// first component when it looks like one, as pkg/name decides) to pkg/name.
func checkRepository(n string) string {
	path := n
	if host, p, ok := strings.Cut(n, "/"); ok && (host == "localhost" || strings.ContainsAny(host, ".:")) {
		path = p
	}
	if path == "" {
		return "repository is empty"
	}
	if strings.ToLower(path) != path {
		return fmt.Sprintf("repository must be lower case: %q", path)
	}
	if len(path) > 255 {
		return fmt.Sprintf("repository is %d characters long, at most 255 are allowed", len(path))
	}
	for _, c := range strings.Split(path, "/") {
		if c == "" {
			return fmt.Sprintf("repository %q has an empty path component (\"//\" or a leading or trailing \"/\")", path)
		}
		if !pathComponent.MatchString(c) {
			return fmt.Sprintf("repository component %q may hold only lower-case letters and digits, joined by '.', '_', '__' or '-'", c)
		}
	}
	return ""
}

func checkDigest(d string) string {
	if _, err := digest.Parse(d); err != nil {
		what := "is malformed"
		switch {
		case errors.Is(err, digest.ErrDigestUnsupported):
			what = "uses an unsupported algorithm"
		case errors.Is(err, digest.ErrDigestInvalidLength):
			what = "has the wrong length"
		}
		return fmt.Sprintf(`digest %q %s: want "sha256:" followed by 64 lower-case hex characters`, d, what)
	}
	return ""
}

// tagWritten reports whether the user wrote a tag.
func (r Reference) tagWritten() bool {
	return r.Form == FormLatest || r.Form == FormTag || r.Form == FormTagDigest
}

// String is the fully qualified reference, with only the parts the user
// wrote: "nginx:1.27" → "index.docker.io/library/nginx:1.27", "nginx" →
// "index.docker.io/library/nginx". It parses back to the same Reference
// (but for Original).
func (r Reference) String() string {
	s := r.Repository
	if r.tagWritten() {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// writtenName is the registry and repository as the user wrote them.
func (r Reference) writtenName() string {
	if r.Original == "" {
		return r.Repository
	}
	s, _, _ := strings.Cut(r.Original, "@")
	if r.tagWritten() {
		s = strings.TrimSuffix(s, ":"+r.Tag)
	}
	return s
}

// PinnedString is the reference pinned to d in the repository form the user
// wrote: "nginx:1.27" → "nginx:1.27@sha256:…" (keepTag) or "nginx@sha256:…".
// A tag is kept only if one was written.
func (r Reference) PinnedString(d v1.Hash, keepTag bool) string {
	s := r.writtenName()
	if keepTag && r.tagWritten() {
		s += ":" + r.Tag
	}
	return s + "@" + d.String()
}

// WithRepository is the same tag and digest in another repository, such as a
// mirror's ("mirror.example.com/dockerhub/library/nginx").
func (r Reference) WithRepository(repo string) (Reference, error) {
	s := repo
	if r.tagWritten() {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return ParseReference(s)
}

// nameRef is the go-containerregistry reference to ask the registry for: by
// digest when one was written (the digest wins when pulling), else by tag.
func (r Reference) nameRef(opts ...name.Option) (name.Reference, error) {
	if r.Digest != "" {
		return name.NewDigest(r.Repository+"@"+r.Digest, opts...)
	}
	return name.NewTag(r.Repository+":"+r.Tag, opts...)
}
