package addressguard

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

func TestTransportRootCAs(t *testing.T) {
	t.Parallel()
	srv, _ := counting(t, true)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	withCA, err := SystemPoolWith(caPEM)
	if err != nil {
		t.Fatalf("SystemPoolWith: %v", err)
	}

	tests := []struct {
		name        string
		pool        *x509.CertPool
		wantUnknown bool
	}{
		{name: "system pool alone does not trust the test CA", pool: nil, wantUnknown: true},
		{name: "system pool with the test CA", pool: withCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := get(t, Config{AllowLoopback: true, RootCAs: tt.pool}, srv.URL)
			var unknown x509.UnknownAuthorityError
			if got := errors.As(err, &unknown); got != tt.wantUnknown {
				t.Errorf("GET = %v, want unknown authority %v", err, tt.wantUnknown)
			}
			if !tt.wantUnknown && err != nil {
				t.Errorf("GET: %v", err)
			}
		})
	}
}

func TestTransportRootCAsKeepGuard(t *testing.T) {
	t.Parallel()
	srv, hits := counting(t, true)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	pool, err := SystemPoolWith(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	// A trusted certificate does not open loopback.
	err = get(t, Config{RootCAs: pool}, srv.URL)
	var be *BlockedError
	if !errors.As(err, &be) || be.Reason != reasonLoopback {
		t.Errorf("GET = %v, want a loopback *BlockedError", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestSystemPoolWith(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pem  string
	}{
		{"empty", ""},
		{"not pem", "hello"},
		{"a key, not a certificate", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool, err := SystemPoolWith([]byte(tt.pem))
			if !errors.Is(err, ErrNoCertificates) || pool != nil {
				t.Errorf("SystemPoolWith(%q) = %v, %v; want nil, ErrNoCertificates", tt.pem, pool, err)
			}
		})
	}
}
