package resolve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestResolveForms(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	idx := reg.fx.index.String()
	tests := []struct {
		ref       string
		form      image.Form
		tagHeads  int // HEAD requests for a tag
		platforms []v1.Platform
	}{
		{"multi", image.FormImplicitLatest, 1, []v1.Platform{linuxAMD64, linuxARM64}},
		{"multi:latest", image.FormLatest, 1, []v1.Platform{linuxAMD64, linuxARM64}},
		{"multi:1.0", image.FormTag, 1, []v1.Platform{linuxAMD64, linuxARM64}},
		{"multi@" + idx, image.FormDigest, 0, []v1.Platform{linuxAMD64, linuxARM64}},
		// The digest wins; the (missing) tag is never looked up.
		{"multi:no-such-tag@" + idx, image.FormTagDigest, 0, []v1.Platform{linuxAMD64, linuxARM64}},
		{"single:1.0", image.FormTag, 1, []v1.Platform{{OS: "linux", Architecture: "arm64"}}},
		{"win:1.0", image.FormTag, 1, []v1.Platform{{OS: "windows", Architecture: "amd64"}}},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			reg, written := reg, tt.ref
			if tt.tagHeads == 0 {
				// A registry of its own: the other subtests HEAD the same
				// tags at the same time.
				reg = newTestRegistry(t, nil)
				written = strings.Replace(written, idx, reg.fx.index.String(), 1)
			}
			ref := reg.ref(t, written)
			if ref.Form != tt.form {
				t.Fatalf("form = %v, want %v", ref.Form, tt.form)
			}
			heads := func() int {
				n := 0
				for _, tag := range []string{"latest", "1.0", "no-such-tag"} {
					n += reg.count("GET /v2/" + strings.Split(strings.Split(tt.ref, "@")[0], ":")[0] + "/manifests/" + tag)
				}
				return n
			}
			before := heads()
			facts, err := New().Resolve(testContext(t), Request{Ref: ref})
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.ref, err)
			}
			if diff := cmp.Diff(tt.platforms, facts.Platforms); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			if facts.ResolvedRepository != ref.Repository {
				t.Errorf("ResolvedRepository = %q, want %q", facts.ResolvedRepository, ref.Repository)
			}
			// Subtests share the registry, so only a lower bound holds for tags.
			if got := heads() - before; (tt.tagHeads == 0 && got != 0) || (tt.tagHeads > 0 && got < 1) {
				t.Errorf("tag requests = %d, want %d", got, tt.tagHeads)
			}
		})
	}
}

func TestResolveFactsOfFixtures(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New()
	for _, tt := range []struct {
		ref    string
		digest v1.Hash
		mt     types.MediaType
	}{
		{"multi:1.0", reg.fx.index, types.OCIImageIndex},
		{"single:1.0", reg.fx.arm64, types.DockerManifestSchema2},
		{"win:1.0", reg.fx.windows, types.DockerManifestSchema2},
	} {
		facts, err := r.Resolve(testContext(t), Request{Ref: reg.ref(t, tt.ref)})
		if err != nil {
			t.Fatal(err)
		}
		if facts.Digest != tt.digest || facts.MediaType != tt.mt {
			t.Errorf("%s: digest %s %s, want %s %s", tt.ref, facts.Digest, facts.MediaType, tt.digest, tt.mt)
		}
	}
}

// TestResolveCostsOneManifestRequest: a cold tag is one GET (its answer
// has the digest and the manifest); its refresh after the TTL is one HEAD
// (Docker Hub does not count it), since the digest's facts are kept.
func TestResolveCostsOneManifestRequest(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New(WithTagTTL(time.Nanosecond), WithTagStaleness(0))
	for range 2 {
		if _, err := r.Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		req  string
		want int
	}{
		{"GET /v2/multi/manifests/1.0", 1},
		{"HEAD /v2/multi/manifests/1.0", 1},
		{"GET /v2/multi/manifests/" + reg.fx.index.String(), 0},
		{"GET /v2/", 1},
	} {
		if got := reg.count(c.req); got != c.want {
			t.Errorf("%s = %d, want %d", c.req, got, c.want)
		}
	}
}

func TestResolveFallsBackToGetWhenHeadRefused(t *testing.T) {
	t.Parallel()
	noHead := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := newTestRegistry(t, noHead)
	r := New(WithTagTTL(time.Nanosecond), WithTagStaleness(0))
	for range 2 { // the second is a refresh, asked with HEAD first
		facts, err := r.Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0")})
		if err != nil {
			t.Fatal(err)
		}
		if facts.Digest != reg.fx.index {
			t.Errorf("digest = %s, want %s", facts.Digest, reg.fx.index)
		}
	}
	if reg.count("HEAD /v2/multi/manifests/1.0") != 1 || reg.count("GET /v2/multi/manifests/1.0") != 2 {
		t.Errorf("want a GET, then a refused HEAD and a GET by tag, got %v", reg.Kinds())
	}
}

// noDigestHeader drops Docker-Content-Digest from HEAD answers, as some
// registries and proxies do.
type noDigestHeader struct{ http.ResponseWriter }

func (w noDigestHeader) WriteHeader(code int) {
	w.Header().Del("Docker-Content-Digest")
	w.ResponseWriter.WriteHeader(code)
}

func TestResolveFallsBackToGetWithoutDigestHeader(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w = noDigestHeader{w}
			}
			next.ServeHTTP(w, r)
		})
	})
	facts, err := New().Resolve(testContext(t), Request{Ref: reg.ref(t, "single:1.0")})
	if err != nil {
		t.Fatal(err)
	}
	if facts.Digest != reg.fx.arm64 || reg.count("GET /v2/single/manifests/1.0") != 1 {
		t.Errorf("digest %s after %v, want %s from one GET by tag", facts.Digest, reg.Kinds(), reg.fx.arm64)
	}
}

func TestResolveBasicAuth(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil, registrytest.WithBasicAuth("alice", "wonderland"))
	r := New()
	ref := reg.ref(t, "multi:1.0")

	_, err := r.Resolve(testContext(t), Request{Ref: ref})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unauthorized || e.StatusCode != 401 {
		t.Fatalf("anonymous Resolve = %v, want image.Unauthorized 401", err)
	}
	creds := testCreds(t, reg.host, "alice", "wonderland")
	facts, err := r.Resolve(testContext(t), Request{Ref: ref, Credentials: creds})
	if err != nil {
		t.Fatalf("Resolve with credentials: %v", err)
	}
	if facts.Digest != reg.fx.index {
		t.Errorf("digest = %s, want %s", facts.Digest, reg.fx.index)
	}
	// A cached success for alice is never served to an anonymous caller.
	_, err = r.Resolve(testContext(t), Request{Ref: ref})
	if !errors.As(err, &e) || e.Class != image.Unauthorized {
		t.Errorf("anonymous Resolve after alice's = %v, want image.Unauthorized", err)
	}
	wrong := testCreds(t, reg.host, "alice", "guess")
	_, err = r.Resolve(testContext(t), Request{Ref: ref, Credentials: wrong})
	if !errors.As(err, &e) || e.Class != image.Unauthorized {
		t.Errorf("Resolve with a wrong password = %v, want image.Unauthorized", err)
	}
	if strings.Contains(err.Error(), "wonderland") || strings.Contains(err.Error(), "guess") {
		t.Errorf("error leaks a password: %v", err)
	}
}

// fault answers every manifest request of the test registry with status and body.
func fault(status int, contentType, body string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			if status == http.StatusOK {
				// Consistent with the body, so it is the body that is judged.
				h, _, _ := v1.SHA256(strings.NewReader(body))
				w.Header().Set("Docker-Content-Digest", h.String())
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		})
	}
}

func TestResolveFaults(t *testing.T) {
	t.Parallel()
	const js = "application/json"
	tests := []struct {
		name   string
		wrap   func(http.Handler) http.Handler
		byTag  bool
		class  image.Class
		status int
		reason string
	}{
		{"401", fault(401, js, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`), false, image.Unauthorized, 401, `UNAUTHORIZED "authentication required"`},
		{"403", fault(403, js, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`), false, image.Forbidden, 403, "DENIED"},
		{"404 manifest", fault(404, js, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`), false, image.NotFound, 404, `MANIFEST_UNKNOWN "manifest unknown"`},
		{"404 name", fault(404, js, `{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`), false, image.NotFound, 404, "NAME_UNKNOWN"},
		{"404 on HEAD by tag", fault(404, js, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`), true, image.NotFound, 404, "404"},
		{"429", fault(429, js, `{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`), false, image.RateLimited, 429, "TOOMANYREQUESTS"},
		{"500", fault(500, "text/html", "<html>oops</html>"), false, image.Unreachable, 500, "registry answered 500 Internal Server Error"},
		{"garbage error body", fault(502, js, "{{{not json"), false, image.Unreachable, 502, "registry answered 502"},
		{"garbage index", fault(200, "application/vnd.oci.image.index.v1+json", "{{{not json"), true, image.Unreachable, 0, "cannot read: index manifest does not parse"},
		{"html manifest", fault(200, "text/html", "<html>captive portal</html>"), true, image.Unreachable, 0, `cannot read: answer is not an image manifest (media type text/html)`},
		{"digest mismatch", fault(200, "application/vnd.oci.image.index.v1+json", "{}"), false, image.Unreachable, 0, "does not match requested digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, tt.wrap)
			ref := reg.ref(t, "multi@"+reg.fx.index.String())
			if tt.byTag {
				ref = reg.ref(t, "multi:1.0")
			}
			_, err := New().Resolve(testContext(t), Request{Ref: ref})
			var e *image.Error
			if !errors.As(err, &e) {
				t.Fatalf("Resolve = %v, want *image.Error", err)
			}
			if e.Class != tt.class || e.StatusCode != tt.status || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("Resolve = {%s %d %q}, want {%s %d ...%q...}", e.Class, e.StatusCode, e.Reason, tt.class, tt.status, tt.reason)
			}
			if e.Image != ref.Original || e.Registry != reg.host {
				t.Errorf("error names %q at %q, want %q at %q", e.Image, e.Registry, ref.Original, reg.host)
			}
		})
	}
}

func TestResolveHangingRegistryEndsAtDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	}
	reg := newTestRegistry(t, hang)
	t.Cleanup(func() { close(release) }) // runs before the server closes
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := New(WithMaxFlight(time.Second)).Resolve(ctx, Request{Ref: reg.ref(t, "multi:1.0")})
	elapsed := time.Since(start)
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unreachable || !strings.Contains(e.Reason, "deadline") {
		t.Fatalf("Resolve = %v, want image.Unreachable by the deadline", err)
	}
	if elapsed > 600*time.Millisecond {
		t.Errorf("Resolve returned after %s, want by the 300ms deadline", elapsed)
	}
}

func TestResolveInvalidOriginal(t *testing.T) {
	t.Parallel()
	_, err := New().Resolve(testContext(t), Request{Ref: image.Reference{Original: "Nginx"}})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.InvalidReference {
		t.Fatalf("Resolve(Nginx) = %v, want image.InvalidReference", err)
	}
}

// A registry that redirects a request to itself forever gets net/http's
// limit of redirects per request, not as many as the deadline allows.
func TestResolveRedirectLoop(t *testing.T) {
	t.Parallel()
	loop := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := newTestRegistry(t, loop)
	_, err := New().Resolve(testContext(t), Request{Ref: reg.ref(t, "multi:1.0")})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unreachable || !strings.Contains(e.Reason, "redirect loop: stopped after 10 redirects") {
		t.Fatalf("Resolve = %v, want Unreachable naming the redirect loop", err)
	}
	// The GET by tag with its hops, and a retry or two: far from the
	// thousands an unbounded loop sends.
	kinds := reg.Kinds()
	manifests := kinds[registrytest.ManifestGet] + kinds[registrytest.ManifestHead]
	if manifests > 6*(maxRedirects+1) {
		t.Errorf("%d manifest requests for one lookup, want at most %d", manifests, 6*(maxRedirects+1))
	}
	t.Logf("%d manifest requests", manifests)
}
