package resolve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// secretsFor is one keyring of pull secrets, each "user" with password
// "pw-"+user for host, named "secret ns/USER".
func secretsFor(t testing.TB, host string, users ...string) *keychain.Keychain {
	t.Helper()
	var configs []*keychain.Config
	for _, u := range users {
		c, err := keychain.Parse(fmt.Appendf(nil, `{"auths":{%q:{"username":%q,"password":%q}}}`, host, u, "pw-"+u), "secret ns/"+u, keychain.ConfigJSON)
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, c)
	}
	return keychain.New(configs...)
}

// TestCredentialsTriedInOrder: a refused credential is followed by the next;
// a success is cached under the identity that worked, and served from there
// to callers holding it (first or not) with no request for the ones before
// it, never to callers without it.
func TestCredentialsTriedInOrder(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, registrytest.WithBasicAuth("right", "pw-right"))
	r := New()
	ref := reg.ref(t, "multi:1.0")
	ask := func(creds Credentials) error {
		_, err := r.Resolve(testContext(t), Request{Ref: ref, Credentials: creds})
		return err
	}
	if err := ask(secretsFor(t, reg.host, "wrong", "right")); err != nil {
		t.Fatalf("wrong then right: %v", err)
	}
	heads := reg.count("GET /v2/multi/manifests/1.0")
	if heads != 2 {
		t.Errorf("%d tag requests, want one per credential", heads)
	}
	if err := ask(secretsFor(t, reg.host, "wrong", "other", "right")); err != nil {
		t.Fatalf("warm, right third: %v", err)
	}
	if got := reg.count("GET /v2/multi/manifests/1.0"); got != heads {
		t.Errorf("warm lookup made %d more tag requests, want none", got-heads)
	}
	for name, creds := range map[string]Credentials{
		"anonymous":          nil,
		"another namespace":  secretsFor(t, reg.host, "wrong"),
		"an empty keychain":  keychain.New(),
		"right for /another": must(t, `{"auths":{"`+reg.host+`/another":{"username":"right","password":"pw-right"}}}`),
	} {
		var e *image.Error
		if err := ask(creds); !errors.As(err, &e) || e.Class != image.Unauthorized {
			t.Errorf("%s after right's success: %v, want Unauthorized", name, err)
		}
	}
}

func must(t testing.TB, data string) *keychain.Keychain {
	t.Helper()
	c, err := keychain.Parse([]byte(data), "secret ns/x", keychain.ConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	return keychain.New(c)
}

// TestCredentialsAllRefused: the finding names every credential tried with
// what it got; an equal credential in a second secret shares the first's
// answer without a second request; nothing secret is printed.
func TestCredentialsAllRefused(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, registrytest.WithBasicAuth("right", "pw-right"))
	c1, _ := keychain.Parse(fmt.Appendf(nil, `{"auths":{%q:{"username":"dup","password":"pw-dup"}}}`, reg.host), "secret ns/copy", keychain.ConfigJSON)
	creds := keychain.Union(secretsFor(t, reg.host, "dup", "wrong"), keychain.New(c1))
	_, err := New().Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0"), Credentials: creds})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unauthorized {
		t.Fatalf("Resolve = %v, want Unauthorized", err)
	}
	want := []image.Attempt{
		{Source: "secret ns/dup", Class: image.Unauthorized, StatusCode: 401, Answer: "401 Unauthorized"},
		{Source: "secret ns/wrong", Class: image.Unauthorized, StatusCode: 401, Answer: "401 Unauthorized"},
		{Source: "secret ns/copy", Class: image.Unauthorized, StatusCode: 401, Answer: "401 Unauthorized"},
	}
	if diff := cmp.Diff(want, e.Tried); diff != "" {
		t.Errorf("Tried (-want +got):\n%s", diff)
	}
	if got := reg.count("GET /v2/multi/manifests/1.0"); got != 2 {
		t.Errorf("%d tag requests, want 2 (the copy shares dup's answer)", got)
	}
	if s := fmt.Sprintf("%v %+v", err, e); strings.Contains(s, "pw-") {
		t.Errorf("error reveals a password: %s", s)
	}
}

// TestCredentialsVerdict: when every credential fails, an answer that is no
// refusal wins (policy decides), else the one that got furthest.
func TestCredentialsVerdict(t *testing.T) {
	t.Parallel()
	byUser := map[string]int{"u401": 401, "u403": 403, "u404": 404, "u429": 429, "u503": 503}
	reg := newTestRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _, _ := r.BasicAuth()
			if s, ok := byUser[u]; ok && strings.Contains(r.URL.Path, "/manifests/") {
				registrytest.WriteError(w, s, "X", "x")
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	tests := []struct {
		users []string
		want  image.Class
	}{
		{[]string{"u401", "u403"}, image.Forbidden},
		{[]string{"u403", "u401"}, image.Forbidden},
		{[]string{"u401", "u404", "u403"}, image.NotFound},
		{[]string{"u401", "u429", "u404"}, image.RateLimited},
		{[]string{"u503", "u401"}, image.Unreachable},
	}
	for _, tt := range tests {
		_, err := New().Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0"), Credentials: secretsFor(t, reg.host, tt.users...)})
		var e *image.Error
		if !errors.As(err, &e) || e.Class != tt.want || len(e.Tried) != len(tt.users) {
			t.Errorf("%v: %v (tried %v), want %s after trying all", tt.users, err, e.Tried, tt.want)
		}
	}
}

// TestCredentialsWithinDeadline: a registry that never answers the first
// credential ends the lookup at the caller's deadline; the next is not
// tried, since no answer means the registry never judged a credential.
func TestCredentialsWithinDeadline(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	reg := newTestRegistry(t, holdTags(gate))
	t.Cleanup(func() { close(gate) }) // before the server closes: cleanups run last first
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := New().Resolve(ctx, Request{Ref: reg.ref(t, "multi:1.0"), Credentials: secretsFor(t, reg.host, "a", "b", "c")})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Resolve took %s, past the deadline", elapsed)
	}
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unreachable || len(e.Tried) != 1 {
		t.Errorf("Resolve = %v (tried %v), want Unreachable after one attempt", err, e.Tried)
	}
}

// unreadable is a pod whose pull secret the kubelet cannot decode.
type unreadable struct{}

func (unreadable) Candidates(context.Context, string) ([]keychain.Credential, error) {
	return nil, fmt.Errorf("%w: secret ns/broken", image.ErrUnreadablePullSecret)
}
func (unreadable) Skipped() []string { return nil }

func TestUnreadablePullSecretAsksNoRegistry(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	_, err := New().Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0"), Credentials: unreadable{}})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unauthorized || !errors.Is(err, image.ErrUnreadablePullSecret) {
		t.Errorf("Resolve = %v, want Unauthorized wrapping ErrUnreadablePullSecret", err)
	}
	if n := reg.requests(); n != 0 {
		t.Errorf("%d registry requests, want none", n)
	}
}
