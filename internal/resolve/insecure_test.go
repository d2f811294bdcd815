package resolve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
)

func TestInsecureRegistryOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTLS()) // a certificate no one trusts
	fx := pushFixtures(t, reg)
	// A name, not 127.0.0.1, so go-containerregistry speaks only HTTPS to
	// it (it also tries plain HTTP on loopback and RFC 1918 addresses).
	addr := reg.Host
	toServer := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	ref, err := image.Parse("registry.test/multi:1.0")
	if err != nil {
		t.Fatal(err)
	}

	_, err = New(WithTransport(toServer)).Resolve(testContext(t), Request{Ref: ref})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.Unreachable || !strings.Contains(e.Reason, "certificate") {
		t.Fatalf("unconfigured self-signed registry: %v, want image.Unreachable (certificate)", err)
	}
	// Another host listed insecure changes nothing for this one.
	_, err = New(WithTransport(toServer), WithInsecureRegistries("other.test")).Resolve(testContext(t), Request{Ref: ref})
	if !errors.As(err, &e) || e.Class != image.Unreachable {
		t.Fatalf("registry not listed insecure: %v, want image.Unreachable", err)
	}
	for _, configured := range []string{"registry.test", "Registry.Test"} {
		facts, err := New(WithTransport(toServer), WithInsecureRegistries(configured)).Resolve(testContext(t), Request{Ref: ref})
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
