package resolve

import (
	"fmt"
	"strings"
)

// mirrorFor finds the first rule whose From is ref's registry host or a
// repository prefix of it on a path boundary ("docker.io/library" matches
// "docker.io/library/nginx", not "docker.io/libraryx"), and returns ref
// rewritten onto the rule's To.
func mirrorFor(rules []Mirror, ref Reference) (Mirror, Reference, bool, error) {
	host, path, _ := strings.Cut(ref.Repository, "/")
	for _, m := range rules {
		fromHost, fromPath, _ := strings.Cut(strings.Trim(m.From, "/"), "/")
		if normalizeHost(fromHost) != host {
			continue
		}
		rest, ok := underPrefix(path, fromPath)
		if !ok {
			continue
		}
		target := strings.TrimSuffix(m.To, "/")
		if rest != "" {
			target += "/" + rest
		}
		mref, err := ref.WithRepository(target)
		if err != nil {
			return Mirror{}, Reference{}, false, invalid(ref.Original,
				fmt.Sprintf("mirror %q for %q gives no valid reference: %s", m.To, m.From, reasonOf(err)), err)
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

func reasonOf(err error) string {
	if e := Classify("", "", err); e.Reason != "" {
		return e.Reason
	}
	return err.Error()
}
