// Package keychain answers registry credentials the way the kubelet does,
// from docker config JSON: the `kubernetes.io/dockerconfigjson` and legacy
// `kubernetes.io/dockercfg` secret formats, and ~/.docker/config.json.
//
// Hosts match exactly, never by prefix, so a secret for registry.example.com
// is never sent to registry.example.com.evil.io. Credentials never leave the
// package in printable form: every type holding one redacts itself under any
// fmt verb.
package keychain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain is an ordered list of credentials per registry host. The zero
// value and a nil *Keychain are empty keychains: anonymous everywhere.
type Keychain struct {
	entries []*entry
}

// entry is one registry's credential from one source.
type entry struct {
	host   string
	source string
	// config is a func because fmt, printing a Keychain held in another
	// value's unexported field, cannot call Format and walks the fields by
	// reflection: a func prints as an address, a string as itself.
	config   func() authn.AuthConfig
	identity string
}

// Merge returns a keychain asking chains in order: the first chain with a
// matching host answers. Nil chains are skipped.
func Merge(chains ...*Keychain) *Keychain {
	merged := &Keychain{}
	for _, c := range chains {
		if c != nil {
			merged.entries = append(merged.entries, c.entries...)
		}
	}
	return merged
}

// Resolve implements authn.Keychain: the first credential for the resource's
// registry, or authn.Anonymous (which go-containerregistry recognises by
// identity) when nothing matches. It never fails.
func (k *Keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	e := k.match(res.RegistryStr())
	if e == nil {
		return authn.Anonymous, nil
	}
	return &authenticator{inner: authn.FromConfig(e.config()), host: e.host, source: e.source}, nil
}

// Identity is a stable, non-secret fingerprint of the credential Resolve
// would send to registry, or "" when it would send none. Equal credentials
// have equal identities whatever their source.
func (k *Keychain) Identity(registry string) string {
	if e := k.match(registry); e != nil {
		return e.identity
	}
	return ""
}

// Sources names, in order and without repeats, the sources holding a
// credential for registry; the first is the one Resolve uses.
func (k *Keychain) Sources(registry string) []string {
	if k == nil {
		return nil
	}
	host := NormalizeRegistry(registry)
	var sources []string
	for _, e := range k.entries {
		if e.host == host && !slices.Contains(sources, e.source) {
			sources = append(sources, e.source)
		}
	}
	return sources
}

func (k *Keychain) match(registry string) *entry {
	if k == nil {
		return nil
	}
	host := NormalizeRegistry(registry)
	for _, e := range k.entries {
		if e.host == host {
			return e
		}
	}
	return nil
}

// NormalizeRegistry turns a docker config key or a registry name into the
// host it names: lower case, without scheme or path, Docker Hub's aliases
// (docker.io, registry-1.docker.io) as "index.docker.io" (go-containerregistry's
// name.DefaultRegistry), the port kept. It returns "" for a key without a host.
//
//	"https://index.docker.io/v1/" → "index.docker.io"
//	"http://host:5000/"           → "host:5000"
func NormalizeRegistry(key string) string {
	h := strings.ToLower(strings.TrimSpace(key))
	for _, scheme := range []string{"https://", "http://"} {
		if strings.HasPrefix(h, scheme) {
			h = h[len(scheme):]
			break
		}
	}
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "index.docker.io"
	}
	return h
}

// String lists hosts and sources only.
func (k Keychain) String() string {
	parts := make([]string, 0, len(k.entries))
	for _, e := range k.entries {
		parts = append(parts, e.String())
	}
	return "keychain[" + strings.Join(parts, ", ") + "]"
}

// GoString redacts as String does, for %#v.
func (k Keychain) GoString() string { return k.String() }

// Format redacts under every verb, including those (%d, %x) for which fmt
// would otherwise print the fields.
func (k Keychain) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, k.String()) }

func (e *entry) String() string {
	return fmt.Sprintf("%s from %s (credentials redacted)", e.host, e.source)
}

func (e *entry) GoString() string { return e.String() }

func (e *entry) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, e.String()) }

// authenticator wraps authn.FromConfig's authenticator, which prints its
// password under %+v, so that the value Resolve returns is safe to print.
type authenticator struct {
	inner        authn.Authenticator
	host, source string
}

func (a *authenticator) Authorization() (*authn.AuthConfig, error) {
	return a.inner.Authorization()
}

func (a *authenticator) String() string {
	return fmt.Sprintf("credentials for %s from %s (redacted)", a.host, a.source)
}

func (a *authenticator) GoString() string { return a.String() }

func (a *authenticator) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, a.String()) }
