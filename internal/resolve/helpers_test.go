package resolve

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	imagefixtures "github.com/pullguard/pullguard/internal/fixtures"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// fixtures are the images every test registry holds.
type fixtures struct {
	index   v1.Hash // multi: linux/amd64, linux/arm64/v8 + an attestation
	arm64   v1.Hash // single: linux/arm64
	windows v1.Hash // win: windows/amd64
}

// testRegistry is a registrytest registry seeded with fixtures, whose
// counts start after the pushes.
type testRegistry struct {
	*registrytest.Registry
	host string
	fx   fixtures
}

// newTestRegistry starts a registry with opts; wrap, if not nil, sits in
// front of it for the test's requests (fixtures are pushed before it).
func newTestRegistry(t testing.TB, wrap func(next http.Handler) http.Handler, opts ...registrytest.Option) *testRegistry {
	t.Helper()
	reg := registrytest.New(t, opts...)
	tr := &testRegistry{Registry: reg, host: reg.Host, fx: pushFixtures(t, reg)}
	reg.ResetCounts()
	if wrap != nil {
		reg.Wrap(wrap)
	}
	return tr
}

// pushFixtures pushes the images every test registry holds.
func pushFixtures(t testing.TB, reg *registrytest.Registry) fixtures {
	t.Helper()
	host, opts := reg.Host, reg.WriteOptions()
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
		if err := remote.WriteIndex(mustTag(t, host+"/"+ref), ii, opts...); err != nil {
			t.Fatal(err)
		}
	}
	writeImg := func(ref string, i v1.Image) {
		if err := remote.Write(mustTag(t, host+"/"+ref), i, opts...); err != nil {
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

// count is how many "METHOD path" requests were served.
func (r *testRegistry) count(methodPath string) int {
	method, path, _ := strings.Cut(methodPath, " ")
	return r.Served(method, path)
}

func (r *testRegistry) requests() int { return int(r.Requests()) }

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
