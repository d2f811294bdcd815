package nodehosts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
)

// writeDirs lays out a certs.d tree: "dir/file" → content.
func writeDirs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// brief is a host as the tests compare it.
func brief(hs []Host) []string {
	var out []string
	for _, h := range hs {
		s := h.Scheme + "://" + h.Host + h.Path
		if h.Upstream {
			s += " upstream"
		}
		if len(h.CAs) > 0 {
			s += " ca"
		}
		if h.SkipVerify {
			s += " skip_verify"
		}
		out = append(out, s)
	}
	return out
}

// TestFor: which hosts containerd tries, in which order, for a registry.
func TestFor(t *testing.T) {
	t.Parallel()
	ca := string(registrytest.New(t, registrytest.WithTLS()).CAPEM())
	root := writeDirs(t, map[string]string{
		"docker.io/hosts.toml": `server = "https://registry-1.docker.io"
[host."https://b.mirror"]
  capabilities = ["pull", "resolve"]
  ca = "b.crt"
[host."http://a.mirror:5000"]
  capabilities = ["pull"]
[host."https://c.mirror/cache"]
  override_path = true
  skip_verify = true
`,
		"docker.io/b.crt":                 ca,
		"registry.local_5000_/hosts.toml": "[host.\"https://port.mirror\"]\n",
		"registry.local:5000/hosts.toml":  "[host.\"https://never.read\"]\n",
		"quay.io/ca.crt":                  ca,
		"_default/hosts.toml":             `server = "https://everything.example/v2"` + "\n",
	})
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		registry string
		byDigest bool
		want     []string
		upstream bool
	}{
		{registry: "docker.io", want: []string{"https://b.mirror/v2 ca", "https://c.mirror/cache skip_verify", "https://registry-1.docker.io/v2 upstream"}, upstream: true},
		{registry: "docker.io", byDigest: true, want: []string{"https://b.mirror/v2 ca", "http://a.mirror:5000/v2", "https://c.mirror/cache skip_verify", "https://registry-1.docker.io/v2 upstream"}, upstream: true},
		{registry: "registry.local:5000", want: []string{"https://port.mirror/v2", "https://registry.local:5000/v2 upstream"}, upstream: true},
		{registry: "quay.io", want: []string{"https://quay.io/v2 upstream ca"}, upstream: true},
		{registry: "ghcr.io", want: []string{"https://everything.example/v2 upstream"}},
	}
	for _, tt := range tests {
		hosts := c.For(tt.registry, tt.byDigest)
		if diff := cmp.Diff(tt.want, brief(hosts)); diff != "" {
			t.Errorf("For(%q, %t) (-want +got):\n%s", tt.registry, tt.byDigest, diff)
		}
		if _, up := c.Hosts(tt.registry, tt.byDigest); up != tt.upstream {
			t.Errorf("Hosts(%q): upstream is the registry = %t, want %t", tt.registry, up, tt.upstream)
		}
	}
	if diff := cmp.Diff([]string{"a.mirror:5000", "c.mirror"}, c.Insecure()); diff != "" {
		t.Errorf("Insecure (-want +got):\n%s", diff)
	}
	var none *Config
	if diff := cmp.Diff([]string{"https://ghcr.io/v2 upstream"}, brief(none.For("ghcr.io", false))); diff != "" {
		t.Errorf("nil config (-want +got):\n%s", diff)
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, want string
	}{
		{name: "unknown field", file: "[host.\"https://m\"]\n  capabilites = [\"pull\"]\n", want: "capabilites"},
		{name: "unknown capability", file: "[host.\"https://m\"]\n  capabilities = [\"fetch\"]\n", want: `unknown capability "fetch"`},
		{name: "not TOML", file: "[host.\"https://m\"\n", want: "hosts.toml"},
		{name: "missing ca file", file: "ca = \"nope.crt\"\n", want: "nope.crt"},
		{name: "ca of the wrong type", file: "ca = 3\n", want: "want a string or an array of strings"},
		{name: "ca without a certificate", file: "ca = \"hosts.toml\"\n", want: "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := writeDirs(t, map[string]string{"r.io/hosts.toml": tt.file})
			if _, err := Load(root); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
}

// TestResolveThroughNodeMirror: an image named on a docker-style host is
// resolved where the nodes pull it — the hosts.toml mirror, trusted with
// its own CA — and from the upstream when the mirror is down, cannot be
// verified, or may not resolve tags.
func TestResolveThroughNodeMirror(t *testing.T) {
	t.Parallel()
	amd64, arm64 := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name     string
		caps     string
		withCA   bool
		down     bool
		byDigest bool
		want     v1.Platform // amd64: the mirror answered; arm64: the upstream
	}{
		{name: "via the mirror", withCA: true, want: amd64},
		{name: "mirror down: the upstream", withCA: true, down: true, want: arm64},
		{name: "mirror's CA not given: the upstream", want: arm64},
		{name: "a pull-only mirror does not resolve tags", withCA: true, caps: `["pull"]`, want: arm64},
		{name: "a pull-only mirror pulls digests", withCA: true, caps: `["pull"]`, byDigest: true, want: amd64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := registrytest.New(t)
			upDigest := up.PushImage(t, "library/app:v1", arm64)
			m := registrytest.New(t, registrytest.WithTLS()) // its own CA
			mhost := m.Host
			mDigest := m.PushImage(t, "library/app:v1", amd64)
			// The mirror also holds the upstream's image, by digest.
			m.PushImage(t, "library/app:v1-up", arm64)
			if tt.down {
				m.Server.Close()
			}
			pushes := up.Requests()
			toml := "server = \"http://" + up.Host + "\"\n[host.\"https://" + mhost + "\"]\n"
			if tt.caps != "" {
				toml += "  capabilities = " + tt.caps + "\n"
			}
			if tt.withCA {
				toml += "  ca = \"mirror-ca.pem\"\n"
			}
			root := writeDirs(t, map[string]string{"docker.io/hosts.toml": toml, "docker.io/mirror-ca.pem": string(m.CAPEM())})
			cfg, err := Load(root)
			if err != nil {
				t.Fatal(err)
			}
			guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: cfg.Insecure()}
			tr := cfg.Transport(guard)
			r := resolve.New(resolve.WithTransport(tr), resolve.WithInsecureRegistries(cfg.Insecure()...), resolve.WithNodeHosts(cfg))
			written := "app:v1"
			if tt.byDigest {
				written = "app@" + mDigest.String()
				if tt.want.Architecture == "arm64" {
					written = "app@" + upDigest.String()
				}
			}
			ref, err := image.Parse(written)
			if err != nil {
				t.Fatal(err)
			}
			ctx := budget(t)
			facts, err := r.Resolve(ctx, resolve.Request{Ref: ref})
			if err != nil {
				t.Fatalf("Resolve(%s): %v", written, err)
			}
			if len(facts.Platforms) != 1 || facts.Platforms[0].Architecture != tt.want.Architecture {
				t.Errorf("platforms %v, want %s (amd64: the mirror's, arm64: the upstream's)", facts.Platforms, tt.want.Architecture)
			}
			if facts.ResolvedRepository != "docker.io/library/app" {
				t.Errorf("ResolvedRepository = %q: the pod is not rewritten by the nodes' mirrors", facts.ResolvedRepository)
			}
			if upAsked := up.Requests() > pushes; upAsked != (tt.want.Architecture == "arm64") {
				t.Errorf("upstream asked = %t", upAsked)
			}
		})
	}
}

// TestAllMirrorsFailing: every host failing gives the upstream's answer.
func TestAllMirrorsFailing(t *testing.T) {
	t.Parallel()
	up := registrytest.New(t)
	m := registrytest.New(t, registrytest.WithTLS())
	m.Server.Close()
	root := writeDirs(t, map[string]string{"docker.io/hosts.toml": "server = \"http://" + up.Host + "\"\n[host.\"" + m.Server.URL + "\"]\n"})
	cfg, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Transport(addressguard.Config{AllowLoopback: true, InsecureRegistries: cfg.Insecure()})
	r := resolve.New(resolve.WithTransport(tr), resolve.WithInsecureRegistries(cfg.Insecure()...), resolve.WithNodeHosts(cfg))
	ref, _ := image.Parse("app:missing")
	ctx := budget(t)
	var e *image.Error
	if _, err := r.Resolve(ctx, resolve.Request{Ref: ref}); !errors.As(err, &e) || e.Class != image.NotFound {
		t.Errorf("Resolve = %v, want the upstream's NotFound", err)
	}
}

func budget(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
