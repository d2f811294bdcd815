// Package registrytest runs go-containerregistry's in-process registry behind
// httptest with the fixtures pullguard's tests need: multi-platform indexes,
// single-platform images, basic or bearer-token auth, latency, a registry
// that hangs, content deleted from under an index, and counts of the
// requests it served (by path and by kind). It is for tests only.
package registrytest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/fixtures"
)

// Registry is a running test registry.
type Registry struct {
	Server *httptest.Server
	// Host is "127.0.0.1:PORT".
	Host string

	user, password string
	requests       atomic.Int64
	hanging        atomic.Bool
	mu             sync.Mutex
	served         map[string]int // by "METHOD /path"
	bearer         bool
	tokens         sync.Map // issued bearer tokens
	latency        time.Duration
	kinds          map[Kind]int
	wrap           atomic.Pointer[http.Handler] // Wrap's, in front of the registry
	inner          http.Handler                 // go-containerregistry's registry
	tls            bool
	// budget is "limit;remaining" sent as rate-limit headers, or nil.
	budget atomic.Pointer[[2]int]
}

// Kind sorts requests for counting (Registry.Kinds).
type Kind string

// The kinds of request a registry serves.
const (
	Ping         Kind = "ping"
	Token        Kind = "token"
	ManifestHead Kind = "HEAD manifest"
	ManifestGet  Kind = "GET manifest"
	Blob         Kind = "blob"
	Other        Kind = "other"
)

func kindOf(req *http.Request) Kind {
	switch p := req.URL.Path; {
	case p == "/v2/" || p == "/v2":
		return Ping
	case p == "/token":
		return Token
	case strings.Contains(p, "/manifests/") && req.Method == http.MethodHead:
		return ManifestHead
	case strings.Contains(p, "/manifests/") && req.Method == http.MethodGet:
		return ManifestGet
	case strings.Contains(p, "/blobs/"):
		return Blob
	}
	return Other
}

// Option configures New.
type Option func(*Registry)

// WithBasicAuth makes every request, the /v2/ ping included, require these
// credentials, as a private registry does.
func WithBasicAuth(user, password string) Option {
	return func(r *Registry) { r.user, r.password = user, password }
}

// WithBearerAuth makes the registry ask for bearer tokens, as Docker Hub,
// GHCR and most public registries do: /v2/ answers 401 with a Bearer
// challenge whose realm is the registry's own /token, which hands a token
// (valid for 5 minutes) to user and password, or to anyone when user is
// "". Every other request needs a token it handed out.
func WithBearerAuth(user, password string) Option {
	return func(r *Registry) { r.bearer, r.user, r.password = true, user, password }
}

// WithTLS serves HTTPS on a certificate httptest made, which nothing but
// the registry's own WriteOptions and Server.Client trust (and a client
// given CAPEM): a registry whose CA the client does not know.
func WithTLS() Option {
	return func(r *Registry) { r.tls = true }
}

// WithLatency delays every answer by d, as a registry across a network.
func WithLatency(d time.Duration) Option {
	return func(r *Registry) { r.latency = d }
}

// New starts a registry on loopback; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{served: map[string]int{}, kinds: map[Kind]int{}}
	for _, o := range opts {
		o(r)
	}
	r.inner = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		r.served[req.Method+" "+req.URL.Path]++
		r.kinds[kindOf(req)]++
		r.mu.Unlock()
		if r.latency > 0 {
			select {
			case <-time.After(r.latency):
			case <-req.Context().Done():
				return
			}
		}
		if b := r.budget.Load(); b != nil && strings.Contains(req.URL.Path, "/manifests/") {
			// As Docker Hub states a pull budget: per 6 hours.
			w.Header().Set("ratelimit-limit", fmt.Sprintf("%d;w=21600", b[0]))
			w.Header().Set("ratelimit-remaining", fmt.Sprintf("%d;w=21600", b[1]))
		}
		if r.hanging.Load() {
			<-req.Context().Done() // until the client gives up, or the server closes
			return
		}
		if h := r.wrap.Load(); h != nil {
			(*h).ServeHTTP(w, req)
			return
		}
		r.serve(w, req)
	}))
	r.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshakes the tests make fail
	if r.tls {
		r.Server.StartTLS()
	} else {
		r.Server.Start()
	}
	t.Cleanup(r.Server.Close)
	r.Host = strings.TrimPrefix(strings.TrimPrefix(r.Server.URL, "http://"), "https://")
	return r
}

// Wrap puts wrap in front of the registry for the requests from now on
// (the fixtures pushed before it never see it): a test's fault injection,
// such as a registry that refuses HEAD or holds some requests.
func (r *Registry) Wrap(wrap func(next http.Handler) http.Handler) {
	h := wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.serve(w, req) }))
	r.wrap.Store(&h)
}

// ResetCounts forgets the requests counted so far (the fixtures' pushes).
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.served = map[string]int{}
	r.kinds = map[Kind]int{}
	r.requests.Store(0)
}

// serve answers req as the registry: its auth, then go-containerregistry's.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if r.bearer {
		if !r.bearerAuth(w, req) {
			return
		}
	} else if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
			unauthorized(w, `Basic realm="registrytest"`)
			return
		}
	}
	r.inner.ServeHTTP(w, req)
}

// bearerAuth hands out tokens at /token and checks them everywhere else;
// false when it answered the request itself.
func (r *Registry) bearerAuth(w http.ResponseWriter, req *http.Request) bool {
	if req.URL.Path == "/token" {
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.password {
				unauthorized(w, `Basic realm="registrytest"`)
				return false
			}
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := hex.EncodeToString(b)
		r.tokens.Store(tok, true)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, tok)
		return false
	}
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		if _, issued := r.tokens.Load(tok); issued {
			return true
		}
	}
	unauthorized(w, fmt.Sprintf(`Bearer realm="http://%s/token",service="registrytest"`, req.Host))
	return false
}

func unauthorized(w http.ResponseWriter, challenge string) {
	w.Header().Set("WWW-Authenticate", challenge)
	WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

// WriteError answers with status and the registry API's error body
// ({"errors":[{"code":…,"message":…}]}), as a test's Wrap refuses a
// request the way a registry does.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	type apiError struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	// JSON's quoting, not Go's (%q writes \x escapes JSON has not).
	_ = json.NewEncoder(w).Encode(struct {
		Errors []apiError `json:"errors"`
	}{[]apiError{{code, message}}})
}

// Kinds counts the requests served so far by kind.
func (r *Registry) Kinds() map[Kind]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.kinds)
}

// Ref prefixes this registry's host: "repo:tag" → "HOST/repo:tag",
// "repo@sha256:…" → "HOST/repo@sha256:…".
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// SetPullBudget makes manifest responses (GET and HEAD) state a pull
// budget of limit per 6 hours with remaining left, in Docker Hub's
// ratelimit-limit and ratelimit-remaining headers.
func (r *Registry) SetPullBudget(limit, remaining int) { r.budget.Store(&[2]int{limit, remaining}) }

// Hang makes every request from now on wait, unanswered, until its client
// gives up: a registry that stops answering mid-run.
func (r *Registry) Hang() { r.hanging.Store(true) }

// Served counts the requests of method for path served so far, e.g.
// Served("HEAD", "/v2/team/app/blobs/sha256:…").
func (r *Registry) Served(method, path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.served[method+" "+path]
}

// Resume ends Hang: requests are answered again (those already waiting
// stay unanswered).
func (r *Registry) Resume() { r.hanging.Store(false) }

// Requests counts every request served so far.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// CAPEM is, with WithTLS, the registry's certificate in PEM (self-signed:
// its own CA), as a --registry-ca-file or a hosts.toml ca holds it; nil
// without WithTLS.
func (r *Registry) CAPEM() []byte {
	if !r.tls {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Server.Certificate().Raw})
}

// WriteOptions are what pushing to the registry takes: its credentials,
// and with WithTLS a transport that trusts its certificate.
func (r *Registry) WriteOptions() []remote.Option {
	var opts []remote.Option
	if r.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password}))
	}
	if r.tls {
		opts = append(opts, remote.WithTransport(r.Server.Client().Transport))
	}
	return opts
}

func (r *Registry) parse(t testing.TB, repoAndTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoAndTag), name.Insecure)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return ref
}

// PushImage pushes a single-platform image as repo:tag and returns its digest.
func (r *Registry) PushImage(t testing.TB, repoAndTag string, platform v1.Platform) v1.Hash {
	t.Helper()
	d, err := fixtures.PushImage(r.parse(t, repoAndTag), platform, r.WriteOptions()...)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return d
}

// PushIndex pushes a multi-platform index (see fixtures.Index) as repo:tag
// and returns its digest.
func (r *Registry) PushIndex(t testing.TB, repoAndTag string, platforms ...v1.Platform) v1.Hash {
	t.Helper()
	d, err := fixtures.PushIndex(r.parse(t, repoAndTag), platforms, r.WriteOptions()...)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return d
}

// DockerConfig is a docker config JSON ("auths" format) with this registry's
// credentials, as `kubectl create secret docker-registry` writes it.
func (r *Registry) DockerConfig() []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.password))
	return []byte(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q,"auth":%q}}}`, r.Host, r.user, r.password, auth))
}

// DeleteManifest deletes the manifest repo@digest, as a registry's garbage
// collection or an operator does, leaving whatever names it (an index)
// pointing at nothing.
func (r *Registry) DeleteManifest(t testing.TB, repo string, digest v1.Hash) {
	t.Helper()
	if err := remote.Delete(r.parse(t, repo+"@"+digest.String()), r.WriteOptions()...); err != nil {
		t.Fatalf("registrytest: delete manifest: %v", err)
	}
}

// DeleteBlob deletes the blob digest (a config or layer), as a half-pushed
// or garbage-collected image lacks it. The in-process registry keeps one
// blob store for all repositories: the blob is gone from every one.
func (r *Registry) DeleteBlob(t testing.TB, digest v1.Hash) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, r.Server.URL+"/v2/any/blobs/"+digest.String(), nil)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := r.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("registrytest: delete blob: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("registrytest: delete blob %s: %s", digest, resp.Status)
	}
}
