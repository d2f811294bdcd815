package addressguard

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// proxying is the part of Config about HTTP proxies.
//
// Behind a proxy the dialled address is the proxy's, so the guard checks
// the registry before the request leaves: its name is resolved here and
// the request refused when an address it resolves to is blocked. What it
// cannot see: the proxy resolves the name again, and may get another
// answer (its own DNS, or a rebinding name); a name that does not resolve
// here is passed to the proxy unchecked (behind many proxies only the
// proxy resolves external names); and where the proxy itself connects is
// its business. The proxy's own address is allowed because it is
// configured, whatever range it is on.

// proxyFunc is the transport's Proxy: net/http's choice of proxy for the
// request's URL (scheme, NO_PROXY, no proxy for localhost and loopback),
// then the guard's check of the registry's addresses.
func (c Config) proxyFunc() func(*http.Request) (*url.URL, error) {
	if c.Proxy == nil {
		return nil
	}
	choose := c.Proxy.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) {
		u, err := choose(req.URL)
		if err != nil || u == nil {
			return u, err
		}
		if err := c.checkName(req.Context(), req.URL.Hostname()); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// checkName refuses host when an address it resolves to is blocked.
func (c Config) checkName(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return c.Check(host, a)
	}
	lookup := c.LookupNetIP
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	addrs, err := lookup(ctx, "ip", host)
	if err != nil {
		return nil // unchecked: see proxying
	}
	for _, a := range addrs {
		if err := c.Check(host, a); err != nil {
			return err
		}
	}
	return nil
}

// isProxy reports whether address (host:port, as dialled) is one of the
// configured proxies.
func (c Config) isProxy(address string) bool {
	if c.Proxy == nil {
		return false
	}
	for _, p := range []string{c.Proxy.HTTPProxy, c.Proxy.HTTPSProxy} {
		if p == "" {
			continue
		}
		if !strings.Contains(p, "://") {
			p = "http://" + p // as net/http reads a proxy without scheme
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		if strings.EqualFold(net.JoinHostPort(u.Hostname(), port), address) {
			return true
		}
	}
	return false
}

// ProxyFromEnvironment is HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or their
// lower-case forms) as net/http reads them, or nil when no proxy is set.
func ProxyFromEnvironment() *httpproxy.Config {
	p := httpproxy.FromEnvironment()
	if p.HTTPProxy == "" && p.HTTPSProxy == "" {
		return nil
	}
	return p
}
