// Package keychain answers which registry credentials the kubelet would try
// for an image, and in which order, from docker config JSON: the
// `kubernetes.io/dockerconfigjson` and legacy `kubernetes.io/dockercfg`
// secret formats, and the nodes' config.json or .dockercfg.
//
// The rules are the kubelet's keyring (k8s.io/kubernetes
// pkg/credentialprovider keyring.go, v1.37), reimplemented here:
//
//   - a docker config key is read as a URL whose scheme is ignored and whose
//     leading "/v1/" or "/v2/" is dropped ("https://index.docker.io/v1/" is
//     the key "index.docker.io");
//   - a key matches an image's normalized repository ("docker.io/library/nginx")
//     when the ports are equal, the hosts have as many DNS labels, each label
//     matches as a filepath.Match glob ("*.azurecr.io"), and the key's path is
//     a string prefix of the repository's path. Nothing is lower-cased;
//   - the keys of one keyring are tried in reverse byte order, so
//     "quay.io/team" comes before "quay.io"; when none matches, a key
//     "index.docker.io" still applies to Docker Hub images;
//   - all of a pod's pull secrets make ONE keyring (the order is across
//     secrets); the nodes' keyring is asked after it and its answers appended.
//
// Credential provider plugins (Provider) make a keyring of their own, built
// for each image from what the plugins answer for it (the kubelet's
// externalCredentialProviderKeyring): all plugins' answers in ONE keyring,
// asked after the pod's and the nodes'. A plugin that fails gives nothing,
// as in the kubelet; Candidates names it with a Credential whose Failure is
// set, so that a message can say so.
//
// The kubelet then tries every matching credential in order until a pull
// succeeds. go-containerregistry's pkg/authn/kubernetes ports the matching,
// but an authn.Keychain answers one authenticator per registry, so it can
// only ever send the first match; Lookup returns them all, and the resolver
// tries them one after the other.
//
// Credentials never leave the package in printable form: every type holding
// one redacts itself under any fmt verb.
package keychain

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Credential is one credential the kubelet would send for an image.
type Credential struct {
	// Source names where it came from, for messages ("secret team-a/regcred",
	// "docker config /etc/pullguard/config.json").
	Source string
	// Key is the docker config key it was filed under, as written.
	Key string
	// Identity is a stable, non-secret fingerprint of what is sent: equal
	// credentials have equal identities whatever their source, and one that
	// sends nothing (Anonymous) has "".
	Identity string
	// Failure is set when Source is a credential provider that failed for
	// the image: why, in words that hold none of its output. Such a
	// credential sends nothing and is never tried; the kubelet would have
	// tried what the provider gives.
	Failure string
	// config is a func so that fmt, printing a Credential held in another
	// value's unexported field, cannot walk into it by reflection.
	config func() authn.AuthConfig
}

// Anonymous reports whether the credential sends nothing. containerd sends
// basic credentials only when both the user name and the password are set
// (CRI ParseAuth and its docker authorizer); the kubelet passes nothing
// else of a docker config entry (no identity or registry token).
func (c Credential) Anonymous() bool { return c.Identity == "" }

// Authenticator is what go-containerregistry sends: authn.Anonymous (which
// it recognises by identity) for an anonymous credential.
func (c Credential) Authenticator() authn.Authenticator {
	if c.Anonymous() || c.config == nil {
		return authn.Anonymous
	}
	return &authenticator{inner: authn.FromConfig(c.config()), source: c.Source}
}

func (c Credential) String() string {
	return fmt.Sprintf("credentials %q from %s (redacted)", c.Key, c.Source)
}

// GoString redacts as String does, for %#v.
func (c Credential) GoString() string { return c.String() }

// Format redacts under every verb.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// Keychain is an ordered list of kubelet keyrings. The zero value and a nil
// *Keychain hold nothing: anonymous everywhere.
type Keychain struct {
	rings []*ring
}

// Provider gives the docker configs that credential provider plugins
// answer for an image, as the kubelet runs them (internal/credentialprovider
// implements it). Configs come in the order of the plugins' configuration;
// failures name the plugins that matched the image but gave no answer.
type Provider interface {
	Provide(ctx context.Context, repository string) ([]*Config, []Failure)
}

// Failure is a credential provider that matched an image and failed.
type Failure struct {
	// Source names the provider ("credential provider ecr-credential-provider").
	Source string
	// Reason says why, never with the plugin's output.
	Reason string
}

// FromProvider returns a keychain whose one keyring is built, for each
// image, from what p answers for it. A nil p gives an empty keychain.
func FromProvider(p Provider) *Keychain {
	if p == nil {
		return &Keychain{}
	}
	return &Keychain{rings: []*ring{{provider: p}}}
}

// New returns one keyring holding configs, as the kubelet builds one from
// all of a pod's pull secrets: keys are ordered across configs, and equal
// keys keep the order of configs. Nil configs are skipped.
func New(configs ...*Config) *Keychain {
	r := newRing(configs)
	if r == nil {
		return &Keychain{}
	}
	return &Keychain{rings: []*ring{r}}
}

// newRing is one keyring of configs, nil when they hold no key.
func newRing(configs []*Config) *ring {
	r := &ring{creds: map[string][]Credential{}}
	for _, c := range configs {
		if c == nil {
			continue
		}
		for _, e := range c.entries {
			if _, ok := r.creds[e.key]; !ok {
				r.index = append(r.index, e.key)
			}
			r.creds[e.key] = append(r.creds[e.key], e.cred)
		}
	}
	if len(r.index) == 0 {
		return nil
	}
	// Most specific first: "quay.io/team" sorts after "quay.io", so it
	// comes first in reverse order.
	slices.Sort(r.index)
	slices.Reverse(r.index)
	for _, k := range r.index {
		r.targets = append(r.targets, parseTarget(k))
	}
	return r
}

// Union returns a keychain asking chains in order and appending their
// answers, as the kubelet unions the pod's keyring with the node's. Nil
// chains are skipped; the inputs are not changed.
func Union(chains ...*Keychain) *Keychain {
	u := &Keychain{}
	for _, c := range chains {
		if c != nil {
			u.rings = append(u.rings, c.rings...)
		}
	}
	return u
}

// Candidates returns the credentials the kubelet would try for repository,
// a normalized repository name as image.Reference.Repository spells it
// ("docker.io/library/nginx"), in the order it tries them. Empty means the
// kubelet pulls anonymously. Credential provider plugins run under ctx.
// It never fails; the error is resolve's Credentials contract.
func (k *Keychain) Candidates(ctx context.Context, repository string) ([]Credential, error) {
	return k.lookup(ctx, repository), nil
}

// Skipped is empty: a keychain holds what was read, not what was not.
func (k *Keychain) Skipped() []string { return nil }

func (k *Keychain) lookup(ctx context.Context, repository string) []Credential {
	if k == nil {
		return nil
	}
	image := parseTarget(repository)
	var out []Credential
	for _, r := range k.rings {
		if r.provider == nil {
			out = append(out, r.lookup(repository, image)...)
			continue
		}
		configs, failures := r.provider.Provide(ctx, repository)
		if pr := newRing(configs); pr != nil {
			out = append(out, pr.lookup(repository, image)...)
		}
		for _, f := range failures {
			out = append(out, Credential{Source: f.Source, Failure: f.Reason})
		}
	}
	return out
}

// Empty reports whether k holds no credential at all.
func (k *Keychain) Empty() bool { return k == nil || len(k.rings) == 0 }

// String lists keys and sources only.
func (k Keychain) String() string {
	var parts []string
	for _, r := range k.rings {
		if r.provider != nil {
			parts = append(parts, "credential provider plugins")
		}
		for _, key := range r.index {
			for _, c := range r.creds[key] {
				parts = append(parts, fmt.Sprintf("%s from %s", key, c.Source))
			}
		}
	}
	return "keychain[" + strings.Join(parts, ", ") + "] (credentials redacted)"
}

// GoString redacts as String does, for %#v.
func (k Keychain) GoString() string { return k.String() }

// Format redacts under every verb, including those (%d, %x) for which fmt
// would otherwise print the fields.
func (k Keychain) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, k.String()) }

// ring is one kubelet keyring (its BasicDockerKeyring), or, with
// provider set, the one built for each image from the plugins' answers.
type ring struct {
	provider Provider
	// index holds the keys, unique, in reverse byte order; targets[i] is
	// index[i] parsed.
	index   []string
	targets []target
	creds   map[string][]Credential
}

// dockerHubKey is the key the kubelet falls back to for Docker Hub images
// when no key matched: what "https://index.docker.io/v1/", the key docker
// login writes, becomes.
const dockerHubKey = "index.docker.io"

func (r *ring) lookup(repository string, image target) []Credential {
	var out []Credential
	for i, key := range r.index {
		if r.targets[i].matches(image) {
			out = append(out, r.creds[key]...)
		}
	}
	if len(out) == 0 && isDockerHub(repository) {
		out = append(out, r.creds[dockerHubKey]...)
	}
	return out
}

// isDockerHub is the kubelet's test for an image name that pulls from
// Docker Hub. Since it is given normalized names, only the "docker.io"
// (and, for names that never reach it normalized, "index.docker.io" and
// unqualified) cases ever hold.
func isDockerHub(repository string) bool {
	first, _, found := strings.Cut(repository, "/")
	switch {
	case first == "":
		return false
	case !found:
		return true
	case first == "docker.io" || first == "index.docker.io":
		return true
	}
	return !strings.ContainsAny(first, ".:")
}

// Matches reports whether pattern, a docker config key or a credential
// provider's matchImages entry ("*.dkr.ecr.*.amazonaws.com"), applies to
// repository, a normalized name ("docker.io/library/nginx"), by the
// kubelet's URLsMatchStr: equal ports, as many DNS labels each matching as
// a glob, the pattern's path a prefix of the repository's. Unlike a keyring
// lookup there is no Docker Hub fallback.
func Matches(pattern, repository string) bool {
	return parseTarget(pattern).matches(parseTarget(repository))
}

// ValidPattern fails for a pattern the kubelet refuses in matchImages:
// one that does not parse as a URL once "https://" is put before it.
func ValidPattern(pattern string) error {
	_, err := url.Parse("https://" + pattern)
	return err
}

// target is a key or an image name read as the kubelet reads both: a URL
// without scheme, split into DNS labels, port and path.
type target struct {
	ok     bool
	labels []string
	port   string
	path   string
}

func parseTarget(s string) target {
	u, err := url.Parse("https://" + s)
	if err != nil {
		// The kubelet ignores the error: such a key matches nothing, and
		// such an image is matched by no key.
		return target{}
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	return target{ok: true, labels: strings.Split(host, "."), port: port, path: u.Path}
}

// matches reports whether key t applies to image.
func (t target) matches(image target) bool {
	if !t.ok || !image.ok || t.port != image.port || len(t.labels) != len(image.labels) {
		return false
	}
	if !strings.HasPrefix(image.path, t.path) {
		return false
	}
	for i, glob := range t.labels {
		// A malformed pattern is an error the kubelet treats as no match.
		if ok, err := filepath.Match(glob, image.labels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// authenticator wraps authn.FromConfig's authenticator, which prints its
// password under %+v, so that the value Authenticator returns is safe to
// print.
type authenticator struct {
	inner  authn.Authenticator
	source string
}

func (a *authenticator) Authorization() (*authn.AuthConfig, error) {
	return a.inner.Authorization()
}

func (a *authenticator) String() string {
	return fmt.Sprintf("credentials from %s (redacted)", a.source)
}

func (a *authenticator) GoString() string { return a.String() }

func (a *authenticator) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, a.String()) }
