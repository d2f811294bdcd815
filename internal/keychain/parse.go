package keychain

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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

// dockerEntry is one registry's entry in either format. Fields besides these
// (email, serveraddress) carry no credential.
type dockerEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// Parse reads the `kubernetes.io/dockerconfigjson` format
// ({"auths":{HOST:{"auth":b64,"username","password","identitytoken"}}}) —
// which is also ~/.docker/config.json — or the legacy `kubernetes.io/dockercfg`
// format ({HOST:{...}}). source names where it came from, for messages
// ("secret team-a/regcred"). Errors are *ParseError.
//
// Entries without any credential (docker login with a credsStore leaves
// those) are skipped: they would only send empty basic auth. When several
// keys name one host ("docker.io" and "https://index.docker.io/v1/"), a key
// without a path wins, then the first in byte order, so the answer does not
// depend on JSON object order. A key with a path ("host/team") applies to the
// whole host: callers ask per registry, not per repository.
func Parse(data []byte, source string) (*Keychain, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ParseError{Source: source, Reason: "empty"}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, &ParseError{Source: source, Reason: jsonReason(err, "a JSON object")}
	}
	entries := top
	if raw, ok := top["auths"]; ok {
		entries = nil
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, &ParseError{Source: source, Key: "auths", Reason: jsonReason(err, "an object of registries")}
		}
	}

	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := hasPath(keys[i]), hasPath(keys[j])
		if pi != pj {
			return !pi
		}
		return keys[i] < keys[j]
	})

	k := &Keychain{}
	seen := map[string]bool{}
	for _, key := range keys {
		host := NormalizeRegistry(key)
		if host == "" {
			return nil, &ParseError{Source: source, Key: key, Reason: "names no registry host"}
		}
		cfg, err := decodeEntry(entries[key])
		if err != nil {
			return nil, &ParseError{Source: source, Key: key, Reason: err.Error()}
		}
		if seen[host] || empty(cfg) {
			continue
		}
		seen[host] = true
		k.entries = append(k.entries, &entry{host: host, source: source, config: func() authn.AuthConfig { return cfg }, identity: identity(cfg)})
	}
	return k, nil
}

// hasPath reports whether key names a repository path, not just a host;
// the API version suffixes docker writes ("/v1/") are not paths.
func hasPath(key string) bool {
	k := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(key), "https://"), "http://")
	_, path, _ := strings.Cut(k, "/")
	path = strings.Trim(path, "/")
	return path != "" && path != "v1" && path != "v2"
}

// decodeEntry reads one entry; its errors name fields, never values.
func decodeEntry(raw json.RawMessage) (authn.AuthConfig, error) {
	var d dockerEntry
	if err := json.Unmarshal(raw, &d); err != nil {
		return authn.AuthConfig{}, errors.New(jsonReason(err, "an object"))
	}
	cfg := authn.AuthConfig{
		Username:      d.Username,
		Password:      d.Password,
		IdentityToken: d.IdentityToken,
		RegistryToken: d.RegistryToken,
	}
	if d.Auth == "" {
		return cfg, nil
	}
	// "auth" wins over username/password, as in docker and the kubelet.
	decoded, err := decodeBase64(d.Auth)
	if err != nil {
		return authn.AuthConfig{}, errors.New(`"auth" is not valid base64`)
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return authn.AuthConfig{}, errors.New(`"auth" must be base64 of "username:password" but has no colon`)
	}
	cfg.Username, cfg.Password = user, pass
	return cfg, nil
}

// decodeBase64 accepts padded and unpadded standard base64, as docker does.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// jsonReason describes a JSON error by position and type only: a syntax
// error's message quotes the offending character, which may be part of a
// password.
func jsonReason(err error, want string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte offset %d", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %q is a JSON %s, want a %s", typ.Field, typ.Value, typ.Type)
	case errors.As(err, &typ):
		return fmt.Sprintf("is a JSON %s, want %s", typ.Value, want)
	default:
		return "malformed JSON, want " + want
	}
}

func empty(c authn.AuthConfig) bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.RegistryToken == ""
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

// identity is a truncated HMAC-SHA256 of the credential fields, each
// length-prefixed so that ("ab", "c") and ("a", "bc") differ.
func identity(c authn.AuthConfig) string {
	m := hmac.New(sha256.New, identityKey)
	for _, f := range []string{c.Username, c.Password, c.IdentityToken, c.RegistryToken} {
		_ = binary.Write(m, binary.BigEndian, uint64(len(f)))
		_, _ = m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil)[:12])
}
