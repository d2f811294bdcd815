// Package registrytest runs go-containerregistry's in-process registry behind
// httptest with the fixtures pullguard's tests need: multi-platform indexes,
// single-platform images, basic auth, and a count of the requests it served.
// It is for tests only.
package registrytest

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	manifestGets   atomic.Int64
	manifestHeads  atomic.Int64
	requests       atomic.Int64
	hanging        atomic.Bool
	mu             sync.Mutex
	served         map[string]int // by "METHOD /path"
}

// Option configures New.
type Option func(*Registry)

// WithBasicAuth makes every request, the /v2/ ping included, require these
// credentials, as a private registry does.
func WithBasicAuth(user, password string) Option {
	return func(r *Registry) { r.user, r.password = user, password }
}

// New starts a registry on loopback; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r := &Registry{served: map[string]int{}}
	for _, o := range opts {
		o(r)
	}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		r.served[req.Method+" "+req.URL.Path]++
		r.mu.Unlock()
		if strings.Contains(req.URL.Path, "/manifests/") {
			switch req.Method {
			case http.MethodGet:
				r.manifestGets.Add(1)
			case http.MethodHead:
				r.manifestHeads.Add(1)
			}
		}
		if r.hanging.Load() {
			<-req.Context().Done() // until the client gives up, or the server closes
			return
		}
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Server.Close)
	r.Host = strings.TrimPrefix(r.Server.URL, "http://")
	return r
}

// Ref prefixes this registry's host: "repo:tag" → "HOST/repo:tag",
// "repo@sha256:…" → "HOST/repo@sha256:…".
func (r *Registry) Ref(repoAndTag string) string { return r.Host + "/" + repoAndTag }

// ManifestRequests counts the manifest GETs and HEADs served so far.
func (r *Registry) ManifestRequests() (gets, heads int64) {
	return r.manifestGets.Load(), r.manifestHeads.Load()
}

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

func (r *Registry) writeOptions() []remote.Option {
	if r.user == "" {
		return nil
	}
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: r.user, Password: r.password})}
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
	d, err := fixtures.PushImage(r.parse(t, repoAndTag), platform, r.writeOptions()...)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return d
}

// PushIndex pushes a multi-platform index (see fixtures.Index) as repo:tag
// and returns its digest.
func (r *Registry) PushIndex(t testing.TB, repoAndTag string, platforms ...v1.Platform) v1.Hash {
	t.Helper()
	d, err := fixtures.PushIndex(r.parse(t, repoAndTag), platforms, r.writeOptions()...)
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
	if err := remote.Delete(r.parse(t, repo+"@"+digest.String()), r.writeOptions()...); err != nil {
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
