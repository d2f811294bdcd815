package image

import (
	"fmt"
	"strings"
)

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

// MirrorFor finds the first rule whose From is ref's registry host or a
// repository prefix of it on a path boundary ("docker.io/library" matches
// "docker.io/library/nginx", not "docker.io/libraryx"), and returns ref
// rewritten onto the rule's To. A rule whose result does not parse is an
// InvalidReference *Error naming the rule.
func MirrorFor(rules []Mirror, ref Reference) (Mirror, Reference, bool, error) {
	for _, m := range rules {
		fromHost, fromPath, _ := strings.Cut(strings.Trim(m.From, "/"), "/")
		if CanonicalHost(fromHost) != CanonicalHost(ref.Registry) {
			continue
		}
		rest, ok := underPrefix(ref.Path, fromPath)
		if !ok {
			continue
		}
		target := strings.TrimSuffix(m.To, "/")
		if rest != "" {
			target += "/" + rest
		}
		mref, err := ref.WithRepository(target)
		if err != nil {
			reason := err.Error()
			if e, ok := err.(*Error); ok {
				reason = e.Reason
			}
			return Mirror{}, Reference{}, false, &Error{Class: InvalidReference, Image: ref.Original, Registry: ref.Registry,
				Reason: fmt.Sprintf("mirror %q for %q gives no valid reference: %s", m.To, m.From, reason), Err: err}
		}
		return m, mref, true, nil
	}
	return Mirror{}, Reference{}, false, nil
}

// underPrefix returns path relative to prefix when prefix is path or one of
// its leading components.
func underPrefix(path, prefix string) (string, bool) {
	switch {
	case prefix == "":
		return path, true
	case path == prefix:
		return "", true
	case strings.HasPrefix(path, prefix+"/"):
		return path[len(prefix)+1:], true
	}
	return "", false
}
