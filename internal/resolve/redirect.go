package resolve

import (
	"fmt"
	"net/http"
)

// maxRedirects is net/http's own limit on one request's redirects.
// go-containerregistry installs an SSRF check as the client's CheckRedirect,
// which replaces net/http's default policy and with it that limit: a
// registry answering 307 to the same URL kept one lookup sending requests
// for as long as its deadline lasted (thousands per second).
const maxRedirects = 10

// redirectLoopError stops a request that has been redirected maxRedirects
// times.
type redirectLoopError struct {
	url string // redacted: no user info, no query
}

func (e *redirectLoopError) Error() string {
	return fmt.Sprintf("redirect loop: stopped after %d redirects, at %s", maxRedirects, e.url)
}

// redirectLimit refuses a request that is the (maxRedirects+1)th hop of one
// client call. net/http links each redirected request to the response that
// caused it (Request.Response), so the transport can count the hops
// whatever CheckRedirect the client was given.
type redirectLimit struct {
	next http.RoundTripper
}

func (t redirectLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	hops := 0
	for r := req.Response; r != nil && r.Request != nil; r = r.Request.Response {
		hops++
	}
	if hops > maxRedirects {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &redirectLoopError{url: redactURL(req.URL.String())}
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pools below.
func (t redirectLimit) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
