package nodehosts

import (
	"crypto/x509"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// Transport sends each request through the address guard configured as
// guard, with what the hosts.toml of its host says: the host's CAs on top
// of guard's, its client certificates, skip_verify, its headers and its
// API path. A host named in several directories takes the settings of the
// first directory in byte order. Requests to other hosts go through
// guard's transport unchanged.
func (c *Config) Transport(guard addressguard.Config) http.RoundTripper {
	base := guard.Transport()
	rt := &routes{base: base, hosts: map[string]http.RoundTripper{}}
	if c == nil {
		return rt
	}
	for _, dir := range slices.Sorted(maps.Keys(c.dirs)) {
		for _, h := range c.dirs[dir] {
			key := strings.ToLower(h.Host)
			if key == "" || rt.hosts[key] != nil || !h.tailored() {
				continue
			}
			cfg := guard
			if len(h.CAs) > 0 {
				cfg.RootCAs = extendPool(guard.RootCAs, h.CAs)
			}
			cfg.Certificates = append(slices.Clip(guard.Certificates), h.ClientCerts...)
			if h.SkipVerify {
				cfg.InsecureRegistries = append(slices.Clip(guard.InsecureRegistries), h.Host)
			}
			var next http.RoundTripper = base
			if len(h.CAs) > 0 || len(h.ClientCerts) > 0 || h.SkipVerify {
				next = cfg.Transport()
			}
			rt.hosts[key] = &hostRequests{next: next, path: h.Path, header: h.Header}
		}
	}
	return rt
}

// tailored reports whether requests to h need more than the guard's
// transport.
func (h Host) tailored() bool {
	return len(h.CAs) > 0 || len(h.ClientCerts) > 0 || h.SkipVerify || len(h.Header) > 0 || h.Path != "/v2"
}

// extendPool is base (the system pool when nil) with pems added; Load
// made sure each holds a certificate.
func extendPool(base *x509.CertPool, pems [][]byte) *x509.CertPool {
	var pool *x509.CertPool
	if base != nil {
		pool = base.Clone()
	} else if sys, err := x509.SystemCertPool(); err == nil && sys != nil {
		pool = sys
	} else {
		pool = x509.NewCertPool()
	}
	for _, p := range pems {
		pool.AppendCertsFromPEM(p)
	}
	return pool
}

// routes picks the transport of a request's host.
type routes struct {
	base  http.RoundTripper
	hosts map[string]http.RoundTripper
}

func (r *routes) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := r.hosts[strings.ToLower(req.URL.Host)]; ok {
		return rt.RoundTrip(req)
	}
	return r.base.RoundTrip(req)
}

// hostRequests rewrites a request for one host: its API path in place of
// "/v2", and its headers.
type hostRequests struct {
	next   http.RoundTripper
	path   string
	header map[string][]string
}

func (h *hostRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	if h.path == "/v2" && len(h.header) == 0 {
		return h.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	if h.path != "/v2" {
		if rest, ok := strings.CutPrefix(out.URL.Path, "/v2"); ok {
			out.URL.Path = h.path + rest
			out.URL.RawPath = ""
		}
	}
	for k, v := range h.header {
		out.Header[http.CanonicalHeaderKey(k)] = slices.Clone(v)
	}
	return h.next.RoundTrip(out)
}
