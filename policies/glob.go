package policies

import (
	"regexp"
	"strings"

	"github.com/pullguard/pullguard/internal/resolve"
)

// dockerHubHost is the registry resolve reports for Docker Hub; people write
// "docker.io", so patterns are matched against both spellings.
const (
	dockerHubHost  = "index.docker.io"
	dockerHubAlias = "docker.io"
)

// compileGlob turns a pattern where "*" matches any run of characters ("/"
// included, unlike path.Match, so "registry.k8s.io/*" covers nested
// repositories) into an anchored regular expression. Every other character
// is quoted, so only a pathological size could fail.
func compileGlob(pattern string) (*regexp.Regexp, error) {
	quoted := regexp.QuoteMeta(pattern)
	return regexp.Compile("^" + strings.ReplaceAll(quoted, `\*`, ".*") + "$")
}

func matchAny(globs []*regexp.Regexp, subjects ...string) bool {
	for _, g := range globs {
		for _, s := range subjects {
			if s != "" && g.MatchString(s) {
				return true
			}
		}
	}
	return false
}

// dockerHubAliasOf rewrites "index.docker.io/…" to "docker.io/…", or returns "".
func dockerHubAliasOf(s string) string {
	if rest, ok := strings.CutPrefix(s, dockerHubHost); ok && (rest == "" || rest[0] == '/') {
		return dockerHubAlias + rest
	}
	return ""
}

// qualified is the fully qualified reference: repository with defaults
// applied, then the tag and digest written ("index.docker.io/library/nginx:latest").
func qualified(ref resolve.Reference) string {
	s := ref.Repository
	if ref.Tag != "" && ref.Form != resolve.FormDigest {
		s += ":" + ref.Tag
	}
	if ref.Digest != "" {
		s += "@" + ref.Digest
	}
	return s
}

// Exempt reports whether an exemptImages pattern matches the reference,
// fully qualified or as its repository alone.
func (p *Policy) Exempt(ref resolve.Reference) bool {
	if len(p.exempt) == 0 || ref.Repository == "" {
		return false
	}
	q := qualified(ref)
	return matchAny(p.exempt, q, ref.Repository, dockerHubAliasOf(q), dockerHubAliasOf(ref.Repository))
}

// RegistryAllowed reports whether the reference's registry (or repository,
// for patterns with a path) is allowed; every registry is when
// allowedRegistries is empty. Mirrors do not count: the object names the
// registry it names.
func (p *Policy) RegistryAllowed(ref resolve.Reference) bool {
	if len(p.allowed) == 0 {
		return true
	}
	return matchAny(p.allowed, ref.Registry, ref.Repository,
		dockerHubAliasOf(ref.Registry), dockerHubAliasOf(ref.Repository))
}
