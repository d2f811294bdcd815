package resolve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// A registry that stops answering holds every lookup of it until the
// lookup's flight ends, and every admission that shares the flight until
// its own deadline: at a high admission rate that is thousands of requests,
// connections and goroutines waiting at once (the soak saw 19,000
// goroutines and 377 MiB with one hung registry, above the chart's memory
// limit). stallGuard bounds the wait at the transport, where every request
// to a host passes:
//
//   - a request whose answer (its status line and headers) has not come
//     within DefaultStallAfter is given up, and its host is stalled;
//   - while a host is stalled, requests to it fail at once, but for one
//     probe per DefaultStallProbe, which is given up after that long;
//   - any answer from the host, whatever its status, ends the stall.
//
// containerd sets no such bound (its pulls wait for image_pull_progress_
// timeout), so a registry slower than DefaultStallAfter is reported
// Unreachable, which the policy's onRegistryError decides (Warn by default),
// never a denial on its own.
const (
	DefaultStallAfter = 5 * time.Second
	DefaultStallProbe = time.Second
	// maxStalledHosts bounds the hosts remembered as stalled (hosts are
	// user input); past it the oldest stall is forgotten.
	maxStalledHosts = 1024
)

// registryStalledError fails a request to a host that answered nothing
// within the stall time.
type registryStalledError struct {
	host string
	// gaveUp: this request waited the whole time; else it was not sent,
	// the host being stalled already.
	gaveUp bool
	after  time.Duration
}

func (e *registryStalledError) Error() string {
	if e.gaveUp {
		return fmt.Sprintf("registry %s sent no answer within %s", e.host, e.after)
	}
	return fmt.Sprintf("registry %s has sent no answer within %s lately; pullguard asks it again once a probe gets an answer", e.host, e.after)
}

type stallGuard struct {
	next         http.RoundTripper
	after, probe time.Duration
	now          func() time.Time

	mu sync.Mutex
	// stalled maps each stalled scheme and host to when its last probe
	// was sent, or given up.
	stalled map[string]time.Time
}

func newStallGuard(next http.RoundTripper, after, probe time.Duration) *stallGuard {
	return &stallGuard{next: next, after: after, probe: probe, now: time.Now, stalled: map[string]time.Time{}}
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	// By scheme too: go-containerregistry pings a plain-HTTP registry over
	// HTTPS and HTTP at once, and the HTTPS attempt's quick failure must
	// not take the HTTP one's probe.
	host := req.URL.Host
	key := req.URL.Scheme + "://" + host
	wait, err := g.admit(key, host)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := &registryStalledError{host: host, gaveUp: true, after: wait}
	timer := time.AfterFunc(wait, func() { cancel(stop) })
	resp, err := g.next.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() && context.Cause(ctx) == stop {
		// Given up: say why, not "context canceled".
		if resp != nil {
			_ = resp.Body.Close()
		}
		cancel(nil)
		g.mark(key)
		return nil, stop
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	g.answered(key)
	// The body is read after RoundTrip returns: the context lives until it
	// is closed.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// admit says how long a request to key (scheme and host) may wait for its
// answer, or why it is not sent at all.
func (g *stallGuard) admit(key, host string) (time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	last, stalled := g.stalled[key]
	if !stalled {
		return g.after, nil
	}
	now := g.now()
	if now.Sub(last) < g.probe {
		return 0, &registryStalledError{host: host, after: g.after}
	}
	g.stalled[key] = now
	return g.probe, nil
}

// mark stalls key, or keeps it stalled: a request to it went unanswered
// for its whole wait. The next probe is due a probe interval from now.
func (g *stallGuard) mark(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.stalled[key]; !ok && len(g.stalled) >= maxStalledHosts {
		oldest, at := "", time.Time{}
		for h, t := range g.stalled {
			if oldest == "" || t.Before(at) {
				oldest, at = h, t
			}
		}
		delete(g.stalled, oldest)
	}
	g.stalled[key] = g.now()
}

func (g *stallGuard) answered(key string) {
	g.mu.Lock()
	delete(g.stalled, key)
	g.mu.Unlock()
}

func (g *stallGuard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// cancelOnClose ends a response's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
