package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// Outcomes of a registry request (the outcome label).
const (
	OutcomeBlocked = "blocked" // the address guard refused the address or plain http
	OutcomeTimeout = "timeout" // the request's deadline passed or it was canceled
	OutcomeError   = "error"   // DNS, TCP, TLS or another transport failure
)

// Transport wraps next (the address guard's transport) so that each registry
// request is timed by host and outcome: the status code for the answers
// pullguard tells apart (401, 403, 404, 429), else its class ("2xx", "5xx"),
// or OutcomeBlocked, OutcomeTimeout, OutcomeError. A nil *Metrics returns
// next unchanged.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if m == nil || next == nil {
		return next
	}
	return &instrumented{next: next, m: m}
}

type instrumented struct {
	next http.RoundTripper
	m    *Metrics
}

func (t *instrumented) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	host := t.m.hosts.value(strings.ToLower(req.URL.Host))
	t.m.registryDuration.WithLabelValues(host, outcome(resp, err)).Observe(time.Since(start).Seconds())
	return resp, err
}

// CloseIdleConnections reaches the wrapped transport's pools, as
// http.Client.CloseIdleConnections expects.
func (t *instrumented) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func outcome(resp *http.Response, err error) string {
	var blocked *addressguard.BlockedError
	var plain *addressguard.PlainHTTPError
	switch {
	case errors.As(err, &blocked), errors.As(err, &plain):
		return OutcomeBlocked
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return OutcomeTimeout
	case err != nil || resp == nil:
		return OutcomeError
	}
	switch code := resp.StatusCode; code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		return strconv.Itoa(code)
	default:
		if code < 100 || code > 599 {
			return OutcomeError
		}
		return strconv.Itoa(code/100) + "xx"
	}
}
