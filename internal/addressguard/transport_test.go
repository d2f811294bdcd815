package addressguard

import (
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/registrytest"
)

// counting starts a server that counts requests and answers 200 "ok".
func counting(t *testing.T, tls bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
	s := httptest.NewUnstartedServer(h)
	// The refused TLS handshakes are expected; keep them out of the output.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, &n
}

func get(t *testing.T, c Config, rawURL string) error {
	t.Helper()
	client := &http.Client{Transport: c.Transport()}
	defer client.CloseIdleConnections()
	resp, err := client.Get(rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", rawURL, resp.StatusCode)
	}
	return nil
}

func hostOf(t *testing.T, s *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestTransportDialGuard(t *testing.T) {
	t.Parallel()
	srv, _ := counting(t, false)
	host := hostOf(t, srv)
	port := strings.TrimPrefix(host, "127.0.0.1:")
	tests := []struct {
		name        string
		cfg         Config
		url         string
		blockedHost string // "" = allowed
	}{
		{
			name:        "loopback refused by default",
			cfg:         Config{InsecureRegistries: []string{host}},
			url:         srv.URL,
			blockedHost: "127.0.0.1",
		},
		{
			name:        "a name resolving to loopback is refused too",
			cfg:         Config{InsecureRegistries: []string{"localhost"}},
			url:         "http://localhost:" + port,
			blockedHost: "localhost",
		},
		{
			name: "private does not open loopback",
			cfg:  Config{AllowPrivate: true, InsecureRegistries: []string{host}},
			url:  srv.URL, blockedHost: "127.0.0.1",
		},
		{
			name: "loopback allowed",
			cfg:  Config{AllowLoopback: true, InsecureRegistries: []string{host}},
			url:  srv.URL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := get(t, tt.cfg, tt.url)
			if tt.blockedHost == "" {
				if err != nil {
					t.Fatalf("GET: %v, want allowed", err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("GET error = %v, want a *BlockedError in the chain", err)
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("GET error %T is not a *url.Error", err)
			}
			if be.Host != tt.blockedHost || !be.Addr.IsLoopback() || be.Reason != reasonLoopback {
				t.Errorf("BlockedError = %+v, want host %q on loopback", be, tt.blockedHost)
			}
		})
	}
}

func TestTransportPlainHTTP(t *testing.T) {
	t.Parallel()
	srv, hits := counting(t, false)
	host := hostOf(t, srv)
	tests := []struct {
		name     string
		insecure []string
		refused  bool
	}{
		{name: "not listed", refused: true},
		{name: "other host listed", insecure: []string{"registry.example"}, refused: true},
		{name: "other port listed", insecure: []string{"127.0.0.1:1"}, refused: true},
		{name: "host:port listed", insecure: []string{host}},
		{name: "host listed for any port", insecure: []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the server's hit count tells whether the
			// refused request went out.
			before := hits.Load()
			err := get(t, Config{AllowLoopback: true, InsecureRegistries: tt.insecure}, srv.URL)
			var pe *PlainHTTPError
			if got := errors.As(err, &pe); got != tt.refused {
				t.Fatalf("GET error = %v, want refused %v", err, tt.refused)
			}
			if tt.refused {
				if pe.Host != host {
					t.Errorf("PlainHTTPError.Host = %q, want %q", pe.Host, host)
				}
				if hits.Load() != before {
					t.Errorf("a refused request reached the server")
				}
			}
		})
	}
}

func TestTransportTLSVerification(t *testing.T) {
	t.Parallel()
	srv, _ := counting(t, true)
	host := hostOf(t, srv)

	err := get(t, Config{AllowLoopback: true}, srv.URL)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("GET self-signed = %v, want an unknown authority error", err)
	}
	if err := get(t, Config{AllowLoopback: true, InsecureRegistries: []string{host}}, srv.URL); err != nil {
		t.Errorf("GET self-signed on an insecure registry: %v", err)
	}
}

// A registry that redirects (as registries send blobs to their storage) to
// an address the guard blocks is refused where the redirect is dialled.
func TestTransportRedirectToBlockedAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		location string
		wantAddr string
	}{
		{location: "https://169.254.169.254/latest/meta-data/", wantAddr: "169.254.169.254"},
		// The dialer hands over the unmapped address.
		{location: "https://[::ffff:169.254.169.254]/latest/meta-data/", wantAddr: "169.254.169.254"},
		{location: "https://10.0.0.1/v2/", wantAddr: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.location, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			reg.Wrap(func(http.Handler) http.Handler {
				return http.RedirectHandler(tt.location, http.StatusTemporaryRedirect)
			})
			cfg := Config{AllowLoopback: true, InsecureRegistries: []string{reg.Host}}
			err := get(t, cfg, reg.Server.URL+"/v2/")
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("GET with redirect = %v, want *BlockedError", err)
			}
			if be.Addr.String() != tt.wantAddr {
				t.Errorf("blocked %s, want %s", be.Addr, tt.wantAddr)
			}
		})
	}
}

// TestRemoteSeesBlockedError pins what the resolver relies on: through
// go-containerregistry's remote package the *BlockedError is still reachable
// with errors.As.
func TestRemoteSeesBlockedError(t *testing.T) {
	t.Parallel()
	host := registrytest.New(t).Host
	ref, err := name.ParseReference(host+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	allowed := Config{AllowLoopback: true, InsecureRegistries: []string{host}}
	if err := remote.Write(ref, img, remote.WithTransport(allowed.Transport())); err != nil {
		t.Fatalf("write through an allowed transport: %v", err)
	}
	if _, err := remote.Head(ref, remote.WithTransport(allowed.Transport())); err != nil {
		t.Fatalf("head through an allowed transport: %v", err)
	}

	blocked := Config{InsecureRegistries: []string{host}}
	_, err = remote.Head(ref, remote.WithTransport(blocked.Transport()))
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("remote.Head through a guarded transport = %v, want *BlockedError", err)
	}
}
