package resolve

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	imagefixtures "github.com/pullguard/pullguard/internal/fixtures"
	"github.com/pullguard/pullguard/internal/keychain"
)

// fixtures are the images every test registry holds.
type fixtures struct {
	index   v1.Hash // multi: linux/amd64, linux/arm64/v8 + an attestation
	arm64   v1.Hash // single: linux/arm64
	windows v1.Hash // win: windows/amd64
}

// testRegistry is go-containerregistry's registry behind httptest, seeded
// with fixtures, counting requests by "METHOD path".
type testRegistry struct {
	srv  *httptest.Server
	host string
	fx   fixtures

	mu     sync.Mutex
	counts map[string]int
	total  int
}

// newTestRegistry starts a registry; wrap, if not nil, sits in front of it
// for the test's requests (fixtures are pushed around it).
func newTestRegistry(t testing.TB, wrap func(next http.Handler) http.Handler) *testRegistry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{fx: pushFixtures(t, reg), counts: map[string]int{}}
	var h http.Handler = reg
	if wrap != nil {
		h = wrap(reg)
	}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.counts[r.Method+" "+r.URL.Path]++
		tr.total++
		tr.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = tr.srv.Listener.Addr().String()
	return tr
}

// pushFixtures pushes through a short-lived server of its own, so wrappers
// never see the pushes; the registry keys repositories by path, not host.
func pushFixtures(t testing.TB, reg http.Handler) fixtures {
	t.Helper()
	seed := httptest.NewServer(reg)
	defer seed.Close()
	host := seed.Listener.Addr().String()
	idx, err := imagefixtures.Index(v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil {
		t.Fatal(err)
	}
	single, err := imagefixtures.Image(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	win, err := imagefixtures.Image(v1.Platform{OS: "windows", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}

	writeIdx := func(ref string, ii v1.ImageIndex) {
		if err := remote.WriteIndex(mustTag(t, host+"/"+ref), ii); err != nil {
			t.Fatal(err)
		}
	}
	writeImg := func(ref string, i v1.Image) {
		if err := remote.Write(mustTag(t, host+"/"+ref), i); err != nil {
			t.Fatal(err)
		}
	}
	writeIdx("multi:1.0", idx)
	writeIdx("multi:latest", idx)
	for _, tag := range []string{"v1.2.0", "v1.2.1", "v2.0.0", "v1.10.0"} {
		writeIdx("multi:"+tag, idx)
	}
	writeImg("single:1.0", single)
	writeImg("win:1.0", win)
	digest := func(d interface{ Digest() (v1.Hash, error) }) v1.Hash {
		h, err := d.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	return fixtures{index: digest(idx), arm64: digest(single), windows: digest(win)}
}

func mustTag(t testing.TB, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func (r *testRegistry) count(methodPath string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[methodPath]
}

func (r *testRegistry) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// ref parses "repo:tag" on this registry.
func (r *testRegistry) ref(t testing.TB, s string) image.Reference {
	t.Helper()
	ref, err := image.Parse(r.host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// testCreds is a keychain with one basic-auth credential for host.
func testCreds(t testing.TB, host, user, pass string) *keychain.Keychain {
	t.Helper()
	cfg, err := keychain.Parse(fmt.Appendf(nil, `{"auths":{%q:{"username":%q,"password":%q}}}`, host, user, pass), "test secret", keychain.ConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	return keychain.New(cfg)
}

// basicAuth demands user:pass on every request, as a private registry does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				ociError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func ociError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}
