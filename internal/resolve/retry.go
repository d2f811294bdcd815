package resolve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Retries replace go-containerregistry's defaults (sleep 1 s, then 3 s),
// which alone outlast an admission's budget.
//
// The decisions:
//   - at most 3 attempts, sleeping ~100 ms then ~200 ms: enough for a
//     dropped connection or a registry replica restarting;
//   - only 408 and 5xx answers (but 501) are retried, and the network
//     failures that a fresh connection cures (reset, EOF);
//   - never 4xx, 429 included: a rate limit is counted in hours, a retry
//     within seconds spends more of it and cannot succeed;
//   - never a retry that cannot finish before the deadline: the sleep plus
//     a minimal attempt must fit in the time left (go-containerregistry's
//     sleep does not watch the context).
var (
	retryBackoff = remote.Backoff{
		Duration: 100 * time.Millisecond,
		Factor:   2,
		Jitter:   0.1,
		Steps:    3,
	}
	retryStatusCodes = []int{
		http.StatusRequestTimeout,
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout,
	}
)

const (
	// maxRetrySleep is the longest sleep retryBackoff can choose.
	maxRetrySleep = 220 * time.Millisecond
	// minAttempt is the least time worth giving one more request.
	minAttempt = 250 * time.Millisecond
)

// retrying retries a GET or HEAD whose answer or failure retryable allows,
// sleeping retryBackoff between attempts, when the request's own deadline
// leaves room (timeForRetry). The retries are here, below go-containerregistry,
// rather than its own, so that pullers shared by callers of different
// deadlines (session.go) judge each request by its caller's.
type retrying struct {
	next http.RoundTripper
}

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	b := retryBackoff
	for {
		resp, err := t.next.RoundTrip(req)
		again := idempotent && b.Steps > 1 && timeForRetry(req.Context())
		switch {
		case err != nil:
			again = again && retryable(err)
		default:
			again = again && slices.Contains(retryStatusCodes, resp.StatusCode)
		}
		if !again {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
		}
		sleep := b.Step()
		select {
		case <-time.After(sleep):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

func (t retrying) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// userAgent names pullguard to registries.
type userAgent struct {
	agent string
	next  http.RoundTripper
}

func (t userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") != t.agent {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.agent)
	}
	return t.next.RoundTrip(req)
}

func (t userAgent) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func timeForRetry(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > maxRetrySleep+minAttempt
}

func retryable(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return slices.Contains(retryStatusCodes, te.StatusCode)
	}
	if _, _, blocked := classifyBlocked(err); blocked {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
