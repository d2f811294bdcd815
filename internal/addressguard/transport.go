package addressguard

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/image"
)

// PlainHTTPError refuses a plain http:// request to a host that is not one of
// the insecure registries. go-containerregistry by itself falls back to
// http for localhost, *.local and RFC 1918 hosts, where anyone on the path
// could answer with a digest of their choosing.
type PlainHTTPError struct {
	Host string
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("plain http to %q is refused: list it in insecureRegistries to allow it", e.Host)
}

// Transport is an *http.Transport cloned from go-containerregistry's
// remote.DefaultTransport whose dialer checks the resolved IP at dial time
// (net.Dialer.Control), so DNS cannot route around the guard (also for
// redirects and token realms, which use the same transport); wrapped so that a
// plain http:// request to a host not in InsecureRegistries is refused with a
// *PlainHTTPError, and TLS verification is skipped only for
// InsecureRegistries (verified TLS trusts RootCAs when set). Refused dials
// fail with a *BlockedError that errors.As finds through the *url.Error and
// *net.OpError around it.
//
// Proxies are used only as Proxy says (never the environment behind the
// caller's back); through one, the registry's name is checked before the
// request leaves (see proxying).
func (c Config) Transport() http.RoundTripper {
	secure := c.baseTransport()
	insecure := c.baseTransport()
	insecure.TLSClientConfig = &tls.Config{
		// Only for hosts the operator listed as insecure; see roundTripper.
		InsecureSkipVerify: true, //nolint:gosec // opt-in per registry
		MinVersion:         tls.VersionTLS12,
	}
	return &roundTripper{secure: secure, insecure: insecure, hosts: parseHosts(c.InsecureRegistries)}
}

// baseTransport is a clone of remote.DefaultTransport with a guarded dialer.
func (c Config) baseTransport() *http.Transport {
	t, ok := remote.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		// Someone replaced the package variable; start from net/http's.
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.Proxy = c.proxyFunc()
	if c.RootCAs != nil || len(c.Certificates) > 0 {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.TLSClientConfig != nil {
			tc = t.TLSClientConfig.Clone()
		}
		if c.RootCAs != nil {
			tc.RootCAs = c.RootCAs
		}
		tc.Certificates = c.Certificates
		t.TLSClientConfig = tc
	}
	t.DialContext = c.dial
	// TLS connections go through DialContext too unless a TLS dialer is
	// set; clear every other dialer so nothing bypasses the guard.
	t.DialTLSContext = nil
	//lint:ignore SA1019 cleared so that it cannot bypass DialContext
	t.DialTLS = nil
	//lint:ignore SA1019 cleared so that it cannot bypass DialContext
	t.Dial = nil
	return t
}

// dial checks every address the name resolves to just before connecting to
// it: the check runs on the very address the socket connects to.
func (c Config) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
	}
	if c.isProxy(address) {
		// Allowed because it is configured; the registry behind it was
		// checked by proxyFunc.
		return d.DialContext(ctx, network, address)
	}
	d.Control = func(_, resolved string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(resolved)
		if err != nil {
			return &BlockedError{Host: host, Reason: reasonInvalid}
		}
		return c.Check(host, ap.Addr())
	}
	return d.DialContext(ctx, network, address)
}

// roundTripper picks the verified or the unverified transport per request
// and refuses plain http where it is not allowed.
type roundTripper struct {
	secure, insecure *http.Transport
	hosts            []hostPort
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	insecure := rt.allowsInsecure(req.URL.Scheme, req.URL.Host)
	if req.URL.Scheme == "http" && !insecure {
		closeBody(req)
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	if insecure {
		return rt.insecure.RoundTrip(req)
	}
	return rt.secure.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both pools.
func (rt *roundTripper) CloseIdleConnections() {
	rt.secure.CloseIdleConnections()
	rt.insecure.CloseIdleConnections()
}

// closeBody honours the RoundTripper contract of closing the body even on
// error.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// AllowsInsecure reports whether host ("host" or "host:port") is one of the
// InsecureRegistries, for callers that must also tell go-containerregistry
// to use http (name.Insecure).
func (c Config) AllowsInsecure(host string) bool {
	return matchHost(parseHosts(c.InsecureRegistries), "", host)
}

func (rt *roundTripper) allowsInsecure(scheme, host string) bool {
	return matchHost(rt.hosts, scheme, host)
}

// hostPort is one InsecureRegistries entry; port "" matches any port.
type hostPort struct{ host, port string }

func parseHosts(entries []string) []hostPort {
	hosts := make([]hostPort, 0, len(entries))
	for _, e := range entries {
		if h, ok := splitHost(e, ""); ok {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// splitHost splits "host", "host:port", "[v6]:port" or "v6", the host
// spelled canonically (image.CanonicalHost: lower case, Docker Hub's
// aliases as one); a missing port is the scheme's default, or "" without a
// scheme.
func splitHost(s, scheme string) (hostPort, bool) {
	s = image.CanonicalHost(s)
	if s == "" {
		return hostPort{}, false
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		return hostPort{host: h, port: p}, true
	}
	port := ""
	switch scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	}
	return hostPort{host: strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), port: port}, true
}

func matchHost(hosts []hostPort, scheme, host string) bool {
	h, ok := splitHost(host, scheme)
	if !ok {
		return false
	}
	for _, e := range hosts {
		if e.host == h.host && (e.port == "" || e.port == h.port) {
			return true
		}
	}
	return false
}
