package keychain

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func mustParse(t *testing.T, data, source string) *Keychain {
	t.Helper()
	k, err := Parse([]byte(data), source)
	if err != nil {
		t.Fatalf("Parse(%s): %v", source, err)
	}
	return k
}

// authFor resolves registry through k; nil means anonymous.
func authFor(t *testing.T, k *Keychain, registry string) *authn.AuthConfig {
	t.Helper()
	reg, err := name.NewRegistry(registry, name.WeakValidation)
	if err != nil {
		t.Fatalf("NewRegistry(%q): %v", registry, err)
	}
	a, err := k.Resolve(reg)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", registry, err)
	}
	if a == authn.Anonymous {
		return nil
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatalf("Authorization(): %v", err)
	}
	return cfg
}

func TestParseFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		data     string
		registry string
		want     *authn.AuthConfig
	}{
		{
			name:     "dockerconfigjson with auth",
			data:     `{"auths":{"registry.example.com":{"auth":"` + b64("alice:s3cret") + `"}}}`,
			registry: "registry.example.com",
			want:     &authn.AuthConfig{Username: "alice", Password: "s3cret"},
		},
		{
			name:     "dockerconfigjson with username and password",
			data:     `{"auths":{"registry.example.com":{"username":"bob","password":"hunter2","email":"b@example.com"}}}`,
			registry: "registry.example.com",
			want:     &authn.AuthConfig{Username: "bob", Password: "hunter2"},
		},
		{
			name:     "auth wins over username and password",
			data:     `{"auths":{"r.io":{"auth":"` + b64("alice:s3cret") + `","username":"bob","password":"hunter2"}}}`,
			registry: "r.io",
			want:     &authn.AuthConfig{Username: "alice", Password: "s3cret"},
		},
		{
			name:     "unpadded auth and a colon in the password",
			data:     `{"auths":{"r.io":{"auth":"` + strings.TrimRight(b64("u:p:w"), "=") + `"}}}`,
			registry: "r.io",
			want:     &authn.AuthConfig{Username: "u", Password: "p:w"},
		},
		{
			name:     "identity token",
			data:     `{"auths":{"myacr.azurecr.io":{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"tok"}}}`,
			registry: "myacr.azurecr.io",
			want:     &authn.AuthConfig{Username: "00000000-0000-0000-0000-000000000000", IdentityToken: "tok"},
		},
		{
			name:     "config.json with credsStore and HttpHeaders",
			data:     `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("hub:pw") + `"},"ghcr.io":{}},"credsStore":"desktop","HttpHeaders":{"User-Agent":"x"}}`,
			registry: "docker.io",
			want:     &authn.AuthConfig{Username: "hub", Password: "pw"},
		},
		{
			name:     "entry without credentials is anonymous",
			data:     `{"auths":{"ghcr.io":{}}}`,
			registry: "ghcr.io",
		},
		{
			name:     "legacy dockercfg",
			data:     `{"https://registry.example.com":{"auth":"` + b64("carol:pw") + `","email":"c@example.com"}}`,
			registry: "registry.example.com",
			want:     &authn.AuthConfig{Username: "carol", Password: "pw"},
		},
		{
			name:     "empty auths",
			data:     `{"auths":{}}`,
			registry: "registry.example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := mustParse(t, tt.data, "secret ns/"+tt.name)
			if diff := cmp.Diff(tt.want, authFor(t, k, tt.registry)); diff != "" {
				t.Errorf("credentials for %q (-want +got):\n%s", tt.registry, diff)
			}
		})
	}
}

func TestNormalizeRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, want string }{
		{"https://index.docker.io/v1/", "index.docker.io"},
		{"index.docker.io", "index.docker.io"},
		{"docker.io", "index.docker.io"},
		{"registry-1.docker.io", "index.docker.io"},
		{"https://registry-1.docker.io/v2/", "index.docker.io"},
		{"http://host:5000/", "host:5000"},
		{"host:5000", "host:5000"},
		{"HOST:5000", "host:5000"},
		{"https://host:5000/v2/", "host:5000"},
		{"  ghcr.io  ", "ghcr.io"},
		{"registry.example.com/team-a", "registry.example.com"},
		{"[::1]:5000", "[::1]:5000"},
		{"docker.io:443", "docker.io:443"},
		{"https://", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeRegistry(tt.key); got != tt.want {
			t.Errorf("NormalizeRegistry(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestExactHostMatch(t *testing.T) {
	t.Parallel()
	k := mustParse(t, `{"auths":{
		"registry.example.com":{"auth":"`+b64("a:1")+`"},
		"https://host:5000/":{"auth":"`+b64("b:2")+`"},
		"https://index.docker.io/v1/":{"auth":"`+b64("c:3")+`"}}}`, "secret ns/regcred")
	a := &authn.AuthConfig{Username: "a", Password: "1"}
	b := &authn.AuthConfig{Username: "b", Password: "2"}
	c := &authn.AuthConfig{Username: "c", Password: "3"}
	tests := []struct {
		registry string
		want     *authn.AuthConfig
	}{
		{"registry.example.com", a},
		{"REGISTRY.example.com", a},
		{"registry.example.com.evil.io", nil},
		{"example.com", nil},
		{"evil-registry.example.com", nil},
		{"sub.registry.example.com", nil},
		{"registry.example.com:443", nil},
		{"host:5000", b},
		{"host", nil},
		{"host:5001", nil},
		{"index.docker.io", c},
		{"docker.io", c},
		{"registry-1.docker.io", c},
		{"ghcr.io", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, authFor(t, k, tt.registry)); diff != "" {
			t.Errorf("credentials for %q (-want +got):\n%s", tt.registry, diff)
		}
		wantSources := []string(nil)
		if tt.want != nil {
			wantSources = []string{"secret ns/regcred"}
		}
		if diff := cmp.Diff(wantSources, k.Sources(tt.registry)); diff != "" {
			t.Errorf("Sources(%q) (-want +got):\n%s", tt.registry, diff)
		}
		if id := k.Identity(tt.registry); (id != "") != (tt.want != nil) {
			t.Errorf("Identity(%q) = %q, want set %v", tt.registry, id, tt.want != nil)
		}
	}
}

func TestResolveRepositoryOfImplicitDockerHub(t *testing.T) {
	t.Parallel()
	k := mustParse(t, `{"auths":{"docker.io":{"auth":"`+b64("hub:pw")+`"}}}`, "secret ns/hub")
	ref, err := name.ParseReference("nginx:1.27")
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Resolve(ref.Context())
	if err != nil || a == authn.Anonymous {
		t.Fatalf("Resolve(%q) = %v, %v; want the docker.io credential", ref, a, err)
	}
}

func TestDuplicateHostsAreDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, registry string
		want                 *authn.AuthConfig
	}{
		{
			name:     "docker hub aliases: first key in byte order",
			data:     `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("second:2") + `"},"docker.io":{"auth":"` + b64("first:1") + `"}}}`,
			registry: "docker.io",
			want:     &authn.AuthConfig{Username: "first", Password: "1"},
		},
		{
			name:     "a key without a path wins over one with",
			data:     `{"auths":{"a.io/team":{"auth":"` + b64("team:2") + `"},"https://a.io":{"auth":"` + b64("host:1") + `"}}}`,
			registry: "a.io",
			want:     &authn.AuthConfig{Username: "host", Password: "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 20 { // map order varies between runs
				k := mustParse(t, tt.data, "s")
				if diff := cmp.Diff(tt.want, authFor(t, k, tt.registry)); diff != "" {
					t.Fatalf("credentials (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const secret = "t0ps3cret"
	tests := []struct {
		name, data string
		wantKey    string
		wantReason string
	}{
		{name: "empty", data: " ", wantReason: "empty"},
		{name: "not JSON", data: `{"auths":{"r.io":{"password":"` + secret + `"}`, wantReason: "malformed JSON"},
		{name: "bad character inside a secret", data: `{"auths":{"r.io":{"password":"t0ps` + "\x01" + `3cret"}}}`, wantReason: "malformed JSON"},
		{name: "array", data: `["` + secret + `"]`, wantReason: "is a JSON array, want a JSON object"},
		{name: "auths not an object", data: `{"auths":["` + secret + `"]}`, wantKey: "auths", wantReason: "want an object of registries"},
		{name: "entry not an object", data: `{"auths":{"r.io":"` + secret + `"}}`, wantKey: "r.io", wantReason: "want an object"},
		{name: "password not a string", data: `{"auths":{"r.io":{"username":"` + secret + `","password":12345}}}`, wantKey: "r.io", wantReason: `field "password"`},
		{name: "bad base64", data: `{"auths":{"r.io":{"auth":"` + secret + `!!"}}}`, wantKey: "r.io", wantReason: `"auth" is not valid base64`},
		{name: "auth without colon", data: `{"auths":{"r.io":{"auth":"` + b64(secret) + `"}}}`, wantKey: "r.io", wantReason: "no colon"},
		{name: "legacy bad base64", data: `{"https://r.io":{"auth":"%` + secret + `"}}`, wantKey: "https://r.io", wantReason: "not valid base64"},
		{name: "key without host", data: `{"auths":{"https://":{"auth":"` + b64("u:"+secret) + `"}}}`, wantKey: "https://", wantReason: "names no registry host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := Parse([]byte(tt.data), "secret ns/bad")
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse() = %v, %v; want *ParseError", k, err)
			}
			if pe.Source != "secret ns/bad" || pe.Key != tt.wantKey || !strings.Contains(pe.Reason, tt.wantReason) {
				t.Errorf("ParseError = %+v, want key %q and reason containing %q", pe, tt.wantKey, tt.wantReason)
			}
			msg := err.Error()
			for _, s := range []string{secret, b64(secret), "s3cret", "12345"} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q reveals %q", msg, s)
				}
			}
			if !strings.HasPrefix(msg, "docker config from secret ns/bad: ") {
				t.Errorf("error %q does not name its source first", msg)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	cred := func(auth string) string { return `{"auths":{"r.io":{"auth":"` + b64(auth) + `"}}}` }
	a1 := mustParse(t, cred("alice:pw1"), "secret a/one")
	a2 := mustParse(t, `{"r.io":{"username":"alice","password":"pw1"}}`, "secret b/two")
	otherPassword := mustParse(t, cred("alice:pw2"), "secret a/one")
	otherSplit := mustParse(t, cred("alicep:w1"), "secret a/one")
	token := mustParse(t, `{"auths":{"r.io":{"username":"alice","identitytoken":"pw1"}}}`, "s")

	id := a1.Identity("r.io")
	if id == "" || strings.Contains(id, "pw1") || strings.Contains(id, "alice") {
		t.Fatalf("Identity = %q, want a non-empty fingerprint without the credential", id)
	}
	if got := a2.Identity("r.io"); got != id {
		t.Errorf("equal credentials from another source and format: identity %q, want %q", got, id)
	}
	if got := a1.Identity("r.io"); got != id {
		t.Errorf("identity not stable: %q then %q", id, got)
	}
	for name, k := range map[string]*Keychain{"other password": otherPassword, "other split": otherSplit, "token": token} {
		if got := k.Identity("r.io"); got == id || got == "" {
			t.Errorf("%s: identity %q, want one different from %q", name, got, id)
		}
	}
	if got := a1.Identity("other.io"); got != "" {
		t.Errorf("Identity of an unmatched registry = %q, want \"\"", got)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	pod := mustParse(t, `{"auths":{"r.io":{"auth":"`+b64("pod:1")+`"}}}`, "secret ns/pod")
	sa := mustParse(t, `{"auths":{"r.io":{"auth":"`+b64("sa:2")+`"},"q.io":{"auth":"`+b64("sa:3")+`"}}}`, "secret ns/sa")
	node := mustParse(t, `{"auths":{"p.io":{"auth":"`+b64("node:4")+`"}}}`, "docker config /etc/pullguard/config.json")
	k := Merge(pod, nil, sa, node)

	tests := []struct {
		registry string
		want     *authn.AuthConfig
		sources  []string
	}{
		{"r.io", &authn.AuthConfig{Username: "pod", Password: "1"}, []string{"secret ns/pod", "secret ns/sa"}},
		{"q.io", &authn.AuthConfig{Username: "sa", Password: "3"}, []string{"secret ns/sa"}},
		{"p.io", &authn.AuthConfig{Username: "node", Password: "4"}, []string{"docker config /etc/pullguard/config.json"}},
		{"o.io", nil, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, authFor(t, k, tt.registry)); diff != "" {
			t.Errorf("credentials for %q (-want +got):\n%s", tt.registry, diff)
		}
		if diff := cmp.Diff(tt.sources, k.Sources(tt.registry)); diff != "" {
			t.Errorf("Sources(%q) (-want +got):\n%s", tt.registry, diff)
		}
	}
	if got, want := k.Identity("r.io"), pod.Identity("r.io"); got != want {
		t.Errorf("merged Identity(r.io) = %q, want the first chain's %q", got, want)
	}
	// Merge must not change its inputs.
	if got := pod.Sources("q.io"); got != nil {
		t.Errorf("pod chain changed by Merge: Sources(q.io) = %v", got)
	}
}

func TestEmptyKeychains(t *testing.T) {
	t.Parallel()
	for name, k := range map[string]*Keychain{"nil": nil, "zero": {}, "merge of none": Merge(), "merge of nil": Merge(nil)} {
		if got := authFor(t, k, "r.io"); got != nil {
			t.Errorf("%s: Resolve = %+v, want anonymous", name, got)
		}
		if id, src := k.Identity("r.io"), k.Sources("r.io"); id != "" || src != nil {
			t.Errorf("%s: Identity %q, Sources %v; want empty", name, id, src)
		}
	}
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	const user, pass, token = "the-user", "pa55word-xyz", "identity-tok-xyz"
	k := mustParse(t, `{"auths":{
		"r.io":{"auth":"`+b64(user+":"+pass)+`"},
		"t.io":{"username":"`+user+`","identitytoken":"`+token+`"}}}`, "secret ns/regcred")
	authR, _ := k.Resolve(name.MustParseReference("r.io/app:v1").Context())
	authT, _ := k.Resolve(name.MustParseReference("t.io/app:v1").Context())
	type holder struct {
		kc   Keychain
		kcp  *Keychain
		auth authn.Authenticator
	}
	values := map[string]any{
		"keychain":         *k,
		"*keychain":        k,
		"authenticator":    authR,
		"token authn":      authT,
		"unexported field": holder{kc: *k, kcp: k, auth: authR},
		"slice":            []*Keychain{k},
	}
	secrets := []string{pass, token, b64(user + ":" + pass), user}
	for vname, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
					t.Errorf("%s printed with %s reveals %q: %s", vname, verb, s, out)
				}
			}
		}
	}
	if got := fmt.Sprint(k); !strings.Contains(got, "r.io") || !strings.Contains(got, "secret ns/regcred") {
		t.Errorf("String() = %q, want hosts and sources", got)
	}
}
