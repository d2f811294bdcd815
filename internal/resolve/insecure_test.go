package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// TestInsecureRegistryOnlyWhenConfigured: through the transport production
// uses (the address guard's, which owns TLS), a registry with a certificate
// no one trusts is reached only when it is listed insecure.
func TestInsecureRegistryOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTLS()) // a certificate no one trusts
	fx := pushFixtures(t, reg)
	ref, err := image.Parse(reg.Host + "/multi:1.0")
	if err != nil {
		t.Fatal(err)
	}
	resolver := func(insecure ...string) *Resolver {
		guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: insecure}
		return New(WithTransport(guard.Transport()), WithInsecureRegistries(insecure...))
	}

	var e *image.Error
	for _, listed := range [][]string{nil, {"other.test"}} {
		_, err = resolver(listed...).Resolve(testContext(t), Request{Ref: ref})
		if !errors.As(err, &e) || e.Class != image.Unreachable || !strings.Contains(e.Reason, "certificate") {
			t.Errorf("self-signed registry, insecure %q: %v, want image.Unreachable (certificate)", listed, err)
		}
	}
	host, _, _ := strings.Cut(reg.Host, ":")
	for _, configured := range []string{reg.Host, host} {
		facts, err := resolver(configured).Resolve(testContext(t), Request{Ref: ref})
		if err != nil {
			t.Fatalf("insecure %q: %v", configured, err)
		}
		if facts.Digest != fx.index {
			t.Errorf("digest = %s, want %s", facts.Digest, fx.index)
		}
	}
}

func TestIsInsecure(t *testing.T) {
	t.Parallel()
	r := New(WithInsecureRegistries("registry.local:5000", "Plain.Local", "docker.io"))
	for host, want := range map[string]bool{
		"registry.local:5000": true,
		"registry.local:5001": false,
		"plain.local":         true,
		"plain.local:8080":    true,
		"index.docker.io":     true,
		"ghcr.io":             false,
	} {
		if got := r.isInsecure(host); got != want {
			t.Errorf("isInsecure(%q) = %v, want %v", host, got, want)
		}
	}
}
