package keychain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func mustParse(t *testing.T, data, source string) *Keychain {
	t.Helper()
	c, err := Parse([]byte(data), source, ConfigJSON)
	if err != nil {
		t.Fatalf("Parse(%s): %v", source, err)
	}
	return New(c)
}

// authFor is the first credential k would try for repository; nil means
// anonymous.
func authFor(t *testing.T, k *Keychain, repository string) *authn.AuthConfig {
	t.Helper()
	cands, err := k.Candidates(t.Context(), repository)
	if err != nil {
		t.Fatalf("Candidates(%q): %v", repository, err)
	}
	if len(cands) == 0 || cands[0].Anonymous() {
		return nil
	}
	cfg, err := cands[0].Authenticator().Authorization()
	if err != nil {
		t.Fatalf("Authorization(): %v", err)
	}
	return cfg
}

func TestParseFormats(t *testing.T) {
	t.Parallel()
	alice := &authn.AuthConfig{Username: "alice", Password: "s3cret"}
	tests := []struct {
		name   string
		data   string
		format Format
		repo   string
		want   *authn.AuthConfig
	}{
		{name: "dockerconfigjson with auth", data: `{"auths":{"registry.example.com":{"auth":"` + b64("alice:s3cret") + `"}}}`,
			repo: "registry.example.com/app", want: alice},
		{name: "username and password", data: `{"auths":{"registry.example.com":{"username":"alice","password":"s3cret","email":"a@example.com"}}}`,
			repo: "registry.example.com/app", want: alice},
		{name: "auth wins over username and password", data: `{"auths":{"r.io":{"auth":"` + b64("alice:s3cret") + `","username":"bob","password":"hunter2"}}}`,
			repo: "r.io/app", want: alice},
		{name: "unpadded auth and a colon in the password", data: `{"auths":{"r.io":{"auth":"` + strings.TrimRight(b64("u:p:w"), "=") + `"}}}`,
			repo: "r.io/app", want: &authn.AuthConfig{Username: "u", Password: "p:w"}},
		{name: "field names match case-insensitively, as encoding/json does", data: `{"AUTHS":{"r.io":{"Username":"alice","PASSWORD":"s3cret"}}}`,
			repo: "r.io/app", want: alice},
		// The kubelet reads no identity token; containerd then sends nothing.
		{name: "identity token alone is anonymous", data: `{"auths":{"myacr.azurecr.io":{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"tok"}}}`,
			repo: "myacr.azurecr.io/app"},
		{name: "password without user is anonymous", data: `{"auths":{"r.io":{"password":"s3cret"}}}`, repo: "r.io/app"},
		{name: "config.json with credsStore and HttpHeaders", data: `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("alice:s3cret") + `"},"ghcr.io":{}},"credsStore":"desktop","HttpHeaders":{"User-Agent":"x"}}`,
			repo: "docker.io/library/nginx", want: alice},
		{name: "entry without credentials is anonymous", data: `{"auths":{"ghcr.io":{}}}`, repo: "ghcr.io/app"},
		{name: "null entry is anonymous", data: `{"auths":{"ghcr.io":null}}`, repo: "ghcr.io/app"},
		{name: "legacy dockercfg", data: `{"https://registry.example.com":{"auth":"` + b64("alice:s3cret") + `","email":"c@example.com"}}`,
			format: Dockercfg, repo: "registry.example.com/app", want: alice},
		{name: "legacy layout in a dockerconfigjson secret gives nothing", data: `{"registry.example.com":{"auth":"` + b64("alice:s3cret") + `"}}`,
			repo: "registry.example.com/app"},
		{name: "auths layout in a dockercfg secret gives nothing", data: `{"auths":{"registry.example.com":{"auth":"` + b64("alice:s3cret") + `"}}}`,
			format: Dockercfg, repo: "registry.example.com/app"},
		{name: "a key that is no URL is ignored", data: `{"auths":{"r.io/%zz":{"auth":"` + b64("bob:x") + `"},"r.io":{"auth":"` + b64("alice:s3cret") + `"}}}`,
			repo: "r.io/app", want: alice},
		{name: "empty auths", data: `{"auths":{}}`, repo: "registry.example.com/app"},
		{name: "null config", data: `null`, repo: "registry.example.com/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.data), "secret ns/s", tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, authFor(t, New(c), tt.repo)); diff != "" {
				t.Errorf("credentials for %q (-want +got):\n%s", tt.repo, diff)
			}
		})
	}
}

func TestFileFormat(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]Format{
		"/var/lib/kubelet/config.json": ConfigJSON,
		"/root/.docker/config.json":    ConfigJSON,
		"/etc/creds.json":              ConfigJSON,
		"/var/lib/kubelet/.dockercfg":  Dockercfg,
		".dockercfg":                   Dockercfg,
	} {
		if got := FileFormat(path); got != want {
			t.Errorf("FileFormat(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestOrder: one keyring orders keys across its configs, most specific
// first, equal keys in config order; Union appends keyrings.
func TestOrder(t *testing.T) {
	t.Parallel()
	parse := func(source, data string) *Config {
		c, err := Parse([]byte(data), source, ConfigJSON)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	one := parse("secret ns/one", `{"auths":{"r.io":{"auth":"`+b64("one-host:1")+`"},"r.io/team":{"auth":"`+b64("one-team:1")+`"}}}`)
	two := parse("secret ns/two", `{"auths":{"https://r.io/v2/":{"auth":"`+b64("two-host:2")+`"},"r.io/team/app":{"auth":"`+b64("two-app:2")+`"}}}`)
	node := parse("docker config /n", `{"auths":{"r.io/team/app":{"auth":"`+b64("node-app:3")+`"},"index.docker.io":{"auth":"`+b64("node-hub:3")+`"}}}`)
	k := Union(New(one, nil, two), nil, New(node))
	tests := []struct {
		repo string
		want []string
	}{
		{"r.io/team/app", []string{"two-app", "one-team", "one-host", "two-host", "node-app"}},
		{"r.io/team/other", []string{"one-team", "one-host", "two-host"}},
		{"r.io/teams", []string{"one-team", "one-host", "two-host"}}, // a string prefix, as the kubelet's
		{"r.io/app", []string{"one-host", "two-host"}},
		{"docker.io/library/nginx", []string{"node-hub"}},
		{"q.io/app", nil},
	}
	for _, tt := range tests {
		cands, _ := k.Candidates(t.Context(), tt.repo)
		var got []string
		for _, c := range cands {
			cfg, _ := c.Authenticator().Authorization()
			got = append(got, cfg.Username)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Candidates(%q) (-want +got):\n%s", tt.repo, diff)
		}
	}
	// Union and New do not change their inputs.
	if cands, _ := New(one).Candidates(t.Context(), "r.io/team/app"); len(cands) != 2 {
		t.Errorf("config changed by New or Union: %d candidates", len(cands))
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	first := func(k *Keychain) string {
		cands, _ := k.Candidates(t.Context(), "r.io/app")
		if len(cands) == 0 {
			return ""
		}
		return cands[0].Identity
	}
	cred := func(auth string) string { return `{"auths":{"r.io":{"auth":"` + b64(auth) + `"}}}` }
	a1 := mustParse(t, cred("alice:pw1"), "secret a/one")
	c, err := Parse([]byte(`{"https://r.io":{"username":"alice","password":"pw1"}}`), "secret b/two", Dockercfg)
	if err != nil {
		t.Fatal(err)
	}
	a2 := New(c)
	id := first(a1)
	if id == "" || strings.Contains(id, "pw1") || strings.Contains(id, "alice") {
		t.Fatalf("Identity = %q, want a non-empty fingerprint without the credential", id)
	}
	if got := first(a2); got != id {
		t.Errorf("equal credentials from another source and format: identity %q, want %q", got, id)
	}
	for name, k := range map[string]*Keychain{
		"other password": mustParse(t, cred("alice:pw2"), "secret a/one"),
		"other split":    mustParse(t, cred("alicep:w1"), "secret a/one"),
	} {
		if got := first(k); got == id || got == "" {
			t.Errorf("%s: identity %q, want one different from %q", name, got, id)
		}
	}
	if got := first(mustParse(t, `{"auths":{"r.io":{"username":"alice"}}}`, "s")); got != "" {
		t.Errorf("a user without password sends nothing: identity %q, want \"\"", got)
	}
}

func TestEmptyKeychains(t *testing.T) {
	t.Parallel()
	for name, k := range map[string]*Keychain{"nil": nil, "zero": {}, "new of none": New(), "union of nil": Union(nil)} {
		if cands, err := k.Candidates(t.Context(), "r.io/app"); cands != nil || err != nil {
			t.Errorf("%s: Candidates = %v, %v; want none", name, cands, err)
		}
		if !k.Empty() {
			t.Errorf("%s: not Empty", name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const secret = "t0ps3cret"
	tests := []struct {
		name, data string
		wantKey    string
		wantReason string
		legacy     bool
	}{
		{name: "legacy bad base64", legacy: true, data: `{"https://r.io":{"auth":"%` + secret + `"}}`, wantKey: "https://r.io", wantReason: "not valid base64"},
		{name: "legacy entry not an object", legacy: true, data: `{"r.io":["` + secret + `"]}`, wantKey: "r.io", wantReason: "is a JSON array"},
		{name: "empty", data: "", wantReason: "empty"},
		{name: "blank is not empty to the kubelet", data: " ", wantReason: "malformed JSON"},
		{name: "not JSON", data: `{"auths":{"r.io":{"password":"` + secret + `"}`, wantReason: "malformed JSON"},
		{name: "bad character inside a secret", data: `{"auths":{"r.io":{"password":"t0ps` + "\x01" + `3cret"}}}`, wantReason: "malformed JSON"},
		{name: "array", data: `["` + secret + `"]`, wantReason: "is a JSON array"},
		{name: "auths not an object", data: `{"auths":["` + secret + `"]}`, wantReason: `field "auths" is a JSON array`},
		{name: "entry not an object", data: `{"auths":{"r.io":"` + secret + `"}}`, wantKey: "r.io", wantReason: "is a JSON string"},
		{name: "email not a string", data: `{"auths":{"r.io":{"auth":"` + b64("u:"+secret) + `","email":5}}}`, wantKey: "r.io", wantReason: `field "email"`},
		{name: "HttpHeaders not strings", data: `{"auths":{},"HttpHeaders":{"X":1}}`, wantReason: `field "HttpHeaders" is a JSON number`},
		{name: "password not a string", data: `{"auths":{"r.io":{"username":"` + secret + `","password":12345}}}`, wantKey: "r.io", wantReason: `field "password"`},
		{name: "bad base64", data: `{"auths":{"r.io":{"auth":"` + secret + `!!"}}}`, wantKey: "r.io", wantReason: `"auth" is not valid base64`},
		{name: "auth without colon", data: `{"auths":{"r.io":{"auth":"` + b64(secret) + `"}}}`, wantKey: "r.io", wantReason: "no colon"},
		{name: "padding inside spaces", data: `{"auths":{"r.io":{"auth":" ` + b64("u:"+secret) + ` "}}}`, wantKey: "r.io", wantReason: "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			format := ConfigJSON
			if tt.legacy {
				format = Dockercfg
			}
			k, err := Parse([]byte(tt.data), "secret ns/bad", format)
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

func TestRedaction(t *testing.T) {
	t.Parallel()
	const user, pass, token = "the-user", "pa55word-xyz", "identity-tok-xyz"
	k := mustParse(t, `{"auths":{
		"r.io":{"auth":"`+b64(user+":"+pass)+`"},
		"t.io":{"username":"`+user+`","password":"`+token+`"}}}`, "secret ns/regcred")
	candsR, _ := k.Candidates(t.Context(), "r.io/app")
	candsT, _ := k.Candidates(t.Context(), "t.io/app")
	authR := candsR[0].Authenticator()
	type holder struct {
		kc   Keychain
		kcp  *Keychain
		auth authn.Authenticator
	}
	values := map[string]any{
		"keychain":         *k,
		"*keychain":        k,
		"authenticator":    authR,
		"credential":       candsR[0],
		"credentials":      candsT,
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

// TestMatches ports the kubelet's TestURLsMatch (pkg/credentialprovider
// keyring_test.go), the rule of matchImages and of docker config keys.
func TestMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, repository string
		want                bool
	}{
		{"*.kubernetes.io", "prefix.kubernetes.io", true},
		{"prefix.*.io", "prefix.kubernetes.io", true},
		{"prefix.kubernetes.*", "prefix.kubernetes.io", true},
		{"*-good.kubernetes.io", "prefix-good.kubernetes.io", true},
		{"*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true},
		{"prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true},
		{"*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true},
		{"prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true},
		{"*.kubernetes.io", "kubernetes.io", false},
		{"*.*.kubernetes.io", "prefix.kubernetes.io", false},
		{"*.*.kubernetes.io", "kubernetes.io", false},
		{"*kubernetes.io", "a.kubernetes.io", false},
		{"*kubernetes.io", "kubernetes.io", true},
		{"*.*.*.kubernetes.io", "a.b.c.kubernetes.io", true},
		{"kubernetes.io", "kubernetes.com", false},
		{"k*.io", "quay.io", false},
		{"*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false},
		{"prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false},
		// No Docker Hub fallback, and a path prefix is a string prefix.
		{"index.docker.io", "docker.io/library/nginx", false},
		{"r.io/team", "r.io/teammate/app", true},
		{"[", "[", false}, // a malformed glob matches nothing
	}
	for _, tt := range tests {
		if got := Matches(tt.pattern, tt.repository); got != tt.want {
			t.Errorf("Matches(%q, %q) = %t, want %t", tt.pattern, tt.repository, got, tt.want)
		}
	}
	if ValidPattern("r.io/%zz") == nil || ValidPattern("*.azurecr.io") != nil {
		t.Error("ValidPattern does not refuse what url.Parse refuses")
	}
}

// fakeProvider answers every image with its configs and failures.
type fakeProvider struct {
	configs  []*Config
	failures []Failure
	asked    []string
}

func (f *fakeProvider) Provide(_ context.Context, repository string) ([]*Config, []Failure) {
	f.asked = append(f.asked, repository)
	return f.configs, f.failures
}

// TestProviderOrder: the plugins' answers make one keyring (most specific
// key first, across plugins), asked after the pod's and the node's, as the
// kubelet's image manager unions them; a failed plugin is named last and
// sends nothing.
func TestProviderOrder(t *testing.T) {
	t.Parallel()
	pod, _ := Parse([]byte(`{"auths":{"r.io":{"username":"pod","password":"p"}}}`), "secret ns/pod", ConfigJSON)
	node, _ := Parse([]byte(`{"auths":{"r.io":{"username":"node","password":"p"}}}`), "docker config node", ConfigJSON)
	p := &fakeProvider{
		configs: []*Config{
			FromAuths("credential provider a", map[string]authn.AuthConfig{"*.io": {Username: "a", Password: "p"}}),
			FromAuths("credential provider b", map[string]authn.AuthConfig{"r.io/team": {Username: "b", Password: "p"}, "%zz": {Username: "x", Password: "y"}}),
		},
		failures: []Failure{{Source: "credential provider c", Reason: "exit status 1"}},
	}
	k := Union(New(pod), New(node), FromProvider(p))
	cands, err := k.Candidates(t.Context(), "r.io/team/app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cands {
		got = append(got, c.Source+" "+c.Key+" "+c.Failure)
	}
	want := []string{
		"secret ns/pod r.io ", "docker config node r.io ",
		"credential provider b r.io/team ", "credential provider a *.io ",
		"credential provider c  exit status 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if last := cands[len(cands)-1]; !last.Anonymous() || last.Authenticator() != authn.Anonymous {
		t.Error("a failed provider's candidate sends something")
	}
	if diff := cmp.Diff([]string{"r.io/team/app"}, p.asked); diff != "" {
		t.Errorf("provider asked (-want +got):\n%s", diff)
	}
	if !FromProvider(nil).Empty() {
		t.Error("FromProvider(nil) holds something")
	}
	if s := fmt.Sprint(k); !strings.Contains(s, "credential provider plugins") {
		t.Errorf("String() = %s, want the plugins named", s)
	}
}
