package policies

import (
	"regexp"
	"strings"

	"github.com/pullguard/pullguard/internal/image"
)

// compileGlob turns a pattern where "*" matches any run of characters ("/"
// included, unlike path.Match, so "registry.k8s.io/*" covers nested
// repositories) into an anchored regular expression. Every other character
// is quoted, so only a pathological size could fail.
func compileGlob(pattern string) (*regexp.Regexp, error) {
	quoted := regexp.QuoteMeta(canonicalPattern(pattern))
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

// canonicalPattern spells a pattern's registry host canonically
// ("index.docker.io/*" is "docker.io/*"), as subjects are spelled.
func canonicalPattern(pattern string) string {
	host, rest, ok := strings.Cut(pattern, "/")
	if !ok {
		return image.CanonicalHost(pattern)
	}
	return image.CanonicalHost(host) + "/" + rest
}

// canonical is s (a repository or reference starting with ref's registry)
// with that registry host spelled canonically.
func canonical(ref image.Reference, s string) string {
	return image.CanonicalHost(ref.Registry) + strings.TrimPrefix(s, ref.Registry)
}

// Exempt reports whether an exemptImages pattern matches the reference,
// fully qualified or as its repository alone.
func (p *Policy) Exempt(ref image.Reference) bool {
	if len(p.exempt) == 0 || ref.Repository == "" {
		return false
	}
	return matchAny(p.exempt, canonical(ref, ref.Qualified()), canonical(ref, ref.Repository))
}

// RegistryAllowed reports whether the reference's registry (or repository,
// for patterns with a path) is allowed; every registry is when
// allowedRegistries is empty. Mirrors do not count: the object names the
// registry it names.
func (p *Policy) RegistryAllowed(ref image.Reference) bool {
	if len(p.allowed) == 0 {
		return true
	}
	return matchAny(p.allowed, image.CanonicalHost(ref.Registry), canonical(ref, ref.Repository))
}

// Resolves reports whether Evaluate reads a registry's answer for the
// reference: not for an exempt image (nothing is checked) nor for one from
// a registry the policy does not allow (RegistryNotAllowed comes from the
// reference alone, and asking a forbidden registry would only leak the
// request). Callers resolve only what this allows.
func (p *Policy) Resolves(ref image.Reference) bool {
	return !p.Exempt(ref) && p.RegistryAllowed(ref)
}
