package keychain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// ParseError is a docker config that could not be read. Its message names
// the source, the registry key and what is wrong, never secret material.
type ParseError struct {
	Source string
	// Key is the registry key of the bad entry as written, or "".
	Key    string
	Reason string
}

func (e *ParseError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("docker config from %s: %s", e.Source, e.Reason)
	}
	return fmt.Sprintf("docker config from %s: entry %q: %s", e.Source, e.Key, e.Reason)
}

// Format is the layout of a docker config. The kubelet reads each secret
// type, and each node file name, in one layout only: a config in the other
// layout gives it no credentials (or a key named "auths").
type Format int

const (
	// ConfigJSON is {"auths":{KEY:{...}}}: kubernetes.io/dockerconfigjson
	// secrets and config.json files.
	ConfigJSON Format = iota
	// Dockercfg is {KEY:{...}}: kubernetes.io/dockercfg secrets and
	// .dockercfg files.
	Dockercfg
)

// FileFormat is the layout the kubelet reads a node file in: .dockercfg is
// the legacy layout, config.json (and any other name) the auths one.
func FileFormat(path string) Format {
	if filepath.Base(path) == ".dockercfg" {
		return Dockercfg
	}
	return ConfigJSON
}

// Config is one parsed docker config: the entries of one source, to be
// given to New.
type Config struct {
	entries []configEntry
}

type configEntry struct {
	key  string // the kubelet's index key ("host/path")
	cred Credential
}

// configJSON and dockerEntry have the shapes the kubelet decodes into
// (credentialprovider.DockerConfigJSON and DockerConfigEntry), so that
// encoding/json accepts and rejects exactly what it does: field names match
// case-insensitively, unknown fields are ignored, a wrongly typed known
// field (HttpHeaders included) fails the whole config.
type configJSON struct {
	Auths       map[string]dockerEntry `json:"auths"`
	HTTPHeaders map[string]string      `json:"HttpHeaders,omitempty"`
}

// dockerEntry is one key's entry. The kubelet reads only these fields:
// identity and registry tokens are never sent.
type dockerEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// entryError is a bad entry; its text names fields, never values.
type entryError struct{ reason string }

func (e *entryError) Error() string { return e.reason }

// UnmarshalJSON decodes "auth" over username and password, as the kubelet
// does; a JSON null is an empty entry.
func (d *dockerEntry) UnmarshalJSON(data []byte) error {
	type plain dockerEntry
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*d = dockerEntry(p)
	if d.Auth == "" {
		return nil
	}
	user, pass, err := decodeAuth(d.Auth)
	if err != nil {
		return err
	}
	d.Username, d.Password = user, pass
	return nil
}

// Parse reads a docker config of the given format; source names where it
// came from, for messages ("secret team-a/regcred"). It fails exactly where
// the kubelet's decoding fails — for a pull secret the kubelet then fails
// every image pull of the pod, for a node file it reads none of it — with
// a *ParseError that names the entry and the rule, never secret material.
//
// Entries the kubelet keeps are kept: one without credentials becomes an
// anonymous Credential (the kubelet sends it, and containerd pulls
// anonymously with it), one whose key is not a URL is dropped (the kubelet
// logs and ignores it). Several keys of one config that become one index
// key ("https://r.io" and "r.io") are all kept, in byte order of the keys
// as written: the kubelet keeps them in Go's random map order, and tries
// them all.
func Parse(data []byte, source string, format Format) (*Config, error) {
	if len(data) == 0 {
		return nil, &ParseError{Source: source, Reason: "empty"}
	}
	var auths map[string]dockerEntry
	var err error
	switch format {
	case Dockercfg:
		err = json.Unmarshal(data, &auths)
	default:
		var cfg configJSON
		err = json.Unmarshal(data, &cfg)
		auths = cfg.Auths
	}
	if err != nil {
		return nil, parseError(data, source, format, err)
	}
	entries := make(map[string]authn.AuthConfig, len(auths))
	for k, d := range auths {
		entries[k] = authn.AuthConfig{Username: d.Username, Password: d.Password}
	}
	return FromAuths(source, entries), nil
}

// FromAuths is the docker config a credential provider plugin answered:
// its auth map, keyed by matchImages-style patterns, read as the kubelet's
// keyring reads the keys of a docker config. source names the plugin for
// messages. An entry without both a user name and a password sends
// nothing, as one of a docker config does.
func FromAuths(source string, auths map[string]authn.AuthConfig) *Config {
	c := &Config{}
	for _, written := range slices.Sorted(maps.Keys(auths)) {
		key, ok := indexKey(written)
		if !ok {
			continue
		}
		a := auths[written]
		cred := Credential{Source: source, Key: written}
		if a.Username != "" && a.Password != "" {
			cfg := authn.AuthConfig{Username: a.Username, Password: a.Password}
			cred.config = func() authn.AuthConfig { return cfg }
			cred.Identity = identity(cfg)
		}
		c.entries = append(c.entries, configEntry{key: key, cred: cred})
	}
	return c
}

// indexKey is the kubelet's index key for a docker config key: the URL's
// host, and its path unless that is empty or "/", after dropping a leading
// "/v1" or "/v2" of "/v1/..." or "/v2/...". A key that is no URL has none.
func indexKey(written string) (string, bool) {
	s := written
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false
	}
	path := u.Path
	if strings.HasPrefix(path, "/v2/") || strings.HasPrefix(path, "/v1/") {
		path = path[len("/v2"):]
	}
	if path == "" || path == "/" {
		return u.Host, true
	}
	return u.Host + path, true
}

// decodeAuth splits base64("user:password") as the kubelet does: padded
// standard base64 when the (trimmed) field ends in "=", unpadded otherwise,
// decoding the field untrimmed.
func decodeAuth(field string) (string, string, error) {
	var decoded []byte
	var err error
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		decoded, err = base64.StdEncoding.DecodeString(field)
	} else {
		decoded, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", &entryError{reason: `"auth" is not valid base64`}
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", &entryError{reason: `"auth" must be base64 of "username:password" but has no colon`}
	}
	return user, pass, nil
}

// parseError names the entry at fault when one is, by decoding the entries
// one at a time (the decoder's own error does not say which).
func parseError(data []byte, source string, format Format, err error) *ParseError {
	pe := &ParseError{Source: source, Reason: decodeReason(err)}
	var raw map[string]json.RawMessage
	if format == Dockercfg {
		_ = json.Unmarshal(data, &raw)
	} else {
		var top struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		_ = json.Unmarshal(data, &top)
		raw = top.Auths
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var d dockerEntry
		if e := json.Unmarshal(raw[k], &d); e != nil {
			pe.Key, pe.Reason = k, decodeReason(e)
			break
		}
	}
	return pe
}

// decodeReason describes a decoding error by position and type only: a
// syntax error's message quotes the offending character, which may be part
// of a password.
func decodeReason(err error) string {
	var ee *entryError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ee):
		return ee.reason
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte offset %d", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %q is a JSON %s, want a %s", lastField(typ.Field), typ.Value, typ.Type)
	case errors.As(err, &typ):
		return fmt.Sprintf("is a JSON %s, want a %s", typ.Value, typ.Type)
	default:
		return "malformed JSON"
	}
}

// lastField is the last element of a decoder's field path ("auths.r.io.password").
func lastField(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// identityKey keys the fingerprints. A plain hash of a credential would let
// anyone who sees a fingerprint (cache keys, debug output) test password
// guesses offline; an HMAC under a per-process random key keeps fingerprints
// stable for as long as anything caches by them, and useless outside.
var identityKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return b
}()

// identity is a truncated HMAC-SHA256 of the user name and password, each
// length-prefixed so that ("ab", "c") and ("a", "bc") differ.
func identity(c authn.AuthConfig) string {
	m := hmac.New(sha256.New, identityKey)
	for _, f := range []string{c.Username, c.Password} {
		_ = binary.Write(m, binary.BigEndian, uint64(len(f)))
		_, _ = m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil)[:12])
}
