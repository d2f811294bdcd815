package resolve

import (
	"crypto/tls"
	"net/http"
	"strings"
)

// insecureTLS sends requests for the configured insecure hosts through a
// transport that skips certificate verification, and all others through the
// verifying one. Plain HTTP for those hosts is pkg/name's name.Insecure.
type insecureTLS struct {
	secure, skip http.RoundTripper
	insecure     func(host string) bool
}

func (t *insecureTLS) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.insecure(strings.ToLower(req.URL.Host)) {
		return t.skip.RoundTrip(req)
	}
	return t.secure.RoundTrip(req)
}

// withInsecureTLS wraps rt when hosts are configured and rt is an
// *http.Transport. Another RoundTripper, such as the address guard's, is
// left alone: it owns its TLS (and the guard skips verification for its own
// insecure registries).
func withInsecureTLS(rt http.RoundTripper, hosts map[string]bool, insecure func(string) bool) http.RoundTripper {
	base, ok := rt.(*http.Transport)
	if len(hosts) == 0 || !ok {
		return rt
	}
	skip := base.Clone()
	if skip.TLSClientConfig == nil {
		skip.TLSClientConfig = &tls.Config{}
	}
	// Only for hosts the operator listed as insecure, never otherwise.
	skip.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // opt-in per host
	return &insecureTLS{secure: rt, skip: skip, insecure: insecure}
}
