package addressguard

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// testProxy is a loopback forward proxy: CONNECT tunnels and absolute-URL
// requests. It resolves the test's names itself, as a real proxy would
// with its own DNS; "public.test" it answers without connecting anywhere.
type testProxy struct {
	srv      *httptest.Server
	requests atomic.Int64
	names    map[string]string // name → ip
}

func newTestProxy(t *testing.T, names map[string]string) *testProxy {
	t.Helper()
	p := &testProxy{names: names}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testProxy) resolve(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if ip, ok := p.names[host]; ok {
		host = ip
	}
	return net.JoinHostPort(host, port)
}

func (p *testProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodConnect {
		target, err := net.Dial("tcp", p.resolve(r.Host))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = target.Close()
			return
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { _, _ = io.Copy(target, conn); _ = target.Close() }()
		_, _ = io.Copy(conn, target)
		_ = conn.Close()
		return
	}
	if r.URL.Hostname() == "public.test" {
		_, _ = io.WriteString(w, "proxied")
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Host = p.resolve(r.URL.Host)
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// lookupOf resolves the test's names for the guard's check.
func lookupOf(names map[string]string) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		ip, ok := names[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
}

// TestProxy: registries are reached only through the configured proxy,
// CONNECT for https and forwarding for http; the proxy's own (loopback)
// address is dialled because it is configured; the registry is checked
// before the request leaves, so a blocked target never reaches the proxy;
// NO_PROXY is honoured.
func TestProxy(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "plain") }))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "tls") }))
	t.Cleanup(tlsSrv.Close)
	_, plainPort, _ := net.SplitHostPort(strings.TrimPrefix(plain.URL, "http://"))
	_, tlsPort, _ := net.SplitHostPort(strings.TrimPrefix(tlsSrv.URL, "https://"))
	names := map[string]string{"registry.test": "127.0.0.1", "public.test": "93.184.215.14", "metadata.test": "169.254.169.254"}

	tests := []struct {
		name        string
		url         string
		loopback    bool
		noProxy     string
		want        string // body; "" expects an error
		wantBlocked bool
		wantProxied bool
	}{
		{name: "http through the proxy", url: "http://registry.test:" + plainPort + "/v2/", loopback: true, want: "plain", wantProxied: true},
		{name: "https through CONNECT", url: "https://registry.test:" + tlsPort + "/v2/", loopback: true, want: "tls", wantProxied: true},
		{name: "the proxy's loopback address is allowed, the registry checked", url: "http://public.test/v2/", want: "proxied", wantProxied: true},
		{name: "a blocked registry never reaches the proxy", url: "http://registry.test:" + plainPort + "/v2/", wantBlocked: true},
		{name: "metadata by name", url: "https://metadata.test/latest/", loopback: true, wantBlocked: true},
		{name: "metadata by address", url: "http://169.254.169.254/latest/", loopback: true, wantBlocked: true},
		{name: "NO_PROXY goes direct", url: "http://registry.test:" + plainPort + "/v2/", loopback: true, noProxy: "registry.test"},
		{name: "loopback is never proxied (net/http's rule), and checked at dial", url: "http://127.0.0.1:" + plainPort + "/v2/", wantBlocked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestProxy(t, names)
			c := Config{
				AllowLoopback:      tt.loopback,
				InsecureRegistries: []string{"registry.test", "public.test", "127.0.0.1", "169.254.169.254"},
				Proxy:              &httpproxy.Config{HTTPProxy: p.srv.URL, HTTPSProxy: p.srv.URL, NoProxy: tt.noProxy},
				LookupNetIP:        lookupOf(names),
			}
			client := &http.Client{Transport: c.Transport()}
			resp, err := client.Get(tt.url)
			var body string
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				body = string(b)
			}
			var be *BlockedError
			if errors.As(err, &be) != tt.wantBlocked {
				t.Errorf("Get: %v; want blocked %t", err, tt.wantBlocked)
			}
			if body != tt.want {
				t.Errorf("body %q (err %v), want %q", body, err, tt.want)
			}
			if proxied := p.requests.Load() > 0; proxied != tt.wantProxied {
				t.Errorf("proxy saw %d requests; want proxied %t", p.requests.Load(), tt.wantProxied)
			}
		})
	}
}

func TestIsProxy(t *testing.T) {
	t.Parallel()
	c := Config{Proxy: &httpproxy.Config{HTTPProxy: "proxy.corp:3128", HTTPSProxy: "https://secure.corp"}}
	for addr, want := range map[string]bool{
		"proxy.corp:3128": true, "secure.corp:443": true, "proxy.corp:80": false, "registry.io:443": false,
	} {
		if got := c.isProxy(addr); got != want {
			t.Errorf("isProxy(%q) = %t, want %t", addr, got, want)
		}
	}
	if (Config{}).isProxy("proxy.corp:3128") {
		t.Error("a config without proxy allows an address")
	}
}
