package image

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"

	"github.com/pullguard/pullguard/internal/text"
)

// The grammar's parts, anchored, from distribution/reference's own
// expressions: explain only points at the part that broke; whether a
// reference is valid is decided by reference.ParseNormalizedNamed alone.
var (
	anchoredDomain     = anchor(reference.DomainRegexp)
	anchoredTag        = anchor(reference.TagRegexp)
	anchoredDigest     = anchor(reference.DigestRegexp)
	anchoredName       = anchor(reference.NameRegexp)
	anchoredIdentifier = anchor(reference.IdentifierRegexp)
)

func anchor(re *regexp.Regexp) *regexp.Regexp {
	return regexp.MustCompile(`^(?:` + re.String() + `)$`)
}

// explain says in words which rule of the reference grammar s breaks, given
// the error distribution/reference returned for it, and ends with what the
// kubelet would do.
func explain(s string, err error) string {
	rule := brokenRule(s)
	if rule == "" {
		rule = err.Error()
	}
	return rule + "; the kubelet would fail the container with InvalidImageName"
}

// brokenRule finds the first part of s that does not fit the grammar, or ""
// when it cannot tell.
func brokenRule(s string) string {
	switch {
	case s == "":
		return "reference is empty"
	case strings.TrimSpace(s) != s:
		return "reference has leading or trailing whitespace"
	case strings.Contains(s, "://"):
		return `reference must not contain a URL scheme such as "https://"`
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }):
		return "reference contains whitespace, control or non-ASCII characters"
	case anchoredIdentifier.MatchString(s):
		return "a 64-character hex string is an image ID, not a repository name: name the repository, and pin it with @sha256:<digest>"
	}
	rest, dgst, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if strings.Contains(dgst, "@") {
			return `reference has more than one "@"`
		}
		if rule := digestRule(dgst); rule != "" {
			return rule
		}
	}
	name := rest
	// A colon after the last slash starts a tag; one before it is a port,
	// and one before a ']' is inside an IPv6 address.
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.ContainsAny(rest[i:], "/]") {
		tag := rest[i+1:]
		name = rest[:i]
		switch {
		case tag == "":
			return `tag is empty after ":"`
		case !anchoredTag.MatchString(tag):
			return fmt.Sprintf("tag %q must be 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'", tag)
		}
	}
	if name == "" {
		return "repository is empty"
	}
	domain, path := splitDomain(name)
	if domain != "" {
		if rule := domainRule(domain); rule != "" {
			return rule
		}
	}
	return pathRule(path, domain == "" || domain == DockerHub)
}

func digestRule(d string) string {
	want := `want "sha256:" followed by 64 lower-case hex characters`
	if !anchoredDigest.MatchString(d) {
		return fmt.Sprintf("digest %q is malformed: %s", d, want)
	}
	if _, err := digest.Parse(d); err != nil {
		what := "is malformed"
		switch {
		case errors.Is(err, digest.ErrDigestUnsupported):
			what = "uses an unsupported algorithm"
		case errors.Is(err, digest.ErrDigestInvalidLength):
			what = "has the wrong length"
		}
		return fmt.Sprintf("digest %q %s: %s", d, what, want)
	}
	return ""
}

// splitDomain splits the first component off as a registry domain when the
// kubelet would read it as one: it contains '.' or ':', is "localhost", or
// is not lower case. "docker.io" and "index.docker.io" are Docker Hub.
func splitDomain(name string) (domain, path string) {
	first, rest, ok := strings.Cut(name, "/")
	if !ok {
		return "", name
	}
	switch {
	case first == "localhost", strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		if first == "index.docker.io" {
			return DockerHub, rest
		}
		return first, rest
	}
	return "", name
}

// domainRule explains a registry domain that does not fit the grammar:
// DNS labels of letters, digits and inner '-', or a bracketed IPv6 address,
// then an optional numeric port.
func domainRule(domain string) string {
	if anchoredDomain.MatchString(domain) {
		return ""
	}
	host, port, hasPort := domain, "", false
	if strings.HasPrefix(domain, "[") {
		end := strings.IndexByte(domain, ']')
		if end < 0 {
			return fmt.Sprintf("registry %q: an IPv6 address needs a closing ']'", domain)
		}
		host = domain[:end+1]
		if after := domain[end+1:]; after != "" {
			if after[0] != ':' {
				return fmt.Sprintf("registry %q: only \":port\" may follow the IPv6 address", domain)
			}
			port, hasPort = after[1:], true
		}
		if strings.Trim(host[1:len(host)-1], "0123456789abcdefABCDEF:") != "" || len(host) == 2 {
			return fmt.Sprintf("registry %q: inside brackets only an IPv6 address of hex digits and ':' is allowed, not %q", domain, host)
		}
	} else {
		if strings.Count(domain, ":") > 1 {
			return fmt.Sprintf("registry %q: an IPv6 address must be in brackets, e.g. [::1]:5000", domain)
		}
		host, port, hasPort = strings.Cut(domain, ":")
		for _, label := range strings.Split(host, ".") {
			switch {
			case label == "":
				return fmt.Sprintf("registry %q has an empty DNS label (\"..\", or a leading or trailing \".\")", domain)
			case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
				return fmt.Sprintf("registry %q: DNS label %q must not start or end with '-'", domain, label)
			case strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "":
				return fmt.Sprintf("registry %q: DNS label %q may hold only letters, digits and '-'", domain, label)
			}
		}
	}
	if hasPort {
		if port == "" {
			return fmt.Sprintf("registry %q has an empty port after ':'", domain)
		}
		if _, err := strconv.ParseUint(port, 10, 64); err != nil {
			return fmt.Sprintf("registry %q: port %q must be a number", domain, port)
		}
	}
	return fmt.Sprintf("registry %q is not a valid host[:port]", domain)
}

// pathRule explains a repository path that does not fit the grammar;
// onDockerHub adds the "library/" the kubelet puts before a one-component
// Docker Hub name when counting its length.
func pathRule(path string, onDockerHub bool) string {
	if path == "" {
		return "repository is empty"
	}
	if strings.ToLower(path) != path {
		return fmt.Sprintf("repository must be lower case: %q", path)
	}
	for _, c := range strings.Split(path, "/") {
		if c == "" {
			return fmt.Sprintf("repository %q has an empty path component (\"//\" or a leading or trailing \"/\")", path)
		}
		if !anchoredName.MatchString(c) {
			return fmt.Sprintf("repository component %q may hold only lower-case letters and digits, joined by '.', '_', '__' or '-'", c)
		}
	}
	full := path
	if onDockerHub && !strings.Contains(path, "/") {
		full = "library/" + path
	}
	if len(full) > reference.RepositoryNameTotalLengthMax {
		return fmt.Sprintf("repository %q is %d characters long, at most %d are allowed", text.Truncate(full, 40), len(full), reference.RepositoryNameTotalLengthMax)
	}
	return ""
}
