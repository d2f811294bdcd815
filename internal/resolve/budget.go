package resolve

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pullguard/pullguard/internal/image"
)

// Budget is a registry's pull budget (image.PullBudget).
type Budget = image.PullBudget

// Header names of a registry's pull budget (lower case, as Docker Hub
// sends them; net/http canonicalizes on lookup).
const (
	HeaderRateLimitLimit     = "ratelimit-limit"
	HeaderRateLimitRemaining = "ratelimit-remaining"
)

// maxBudgetHosts bounds the hosts kept (pods name any host).
const maxBudgetHosts = 1024

// Budgets keeps the last Budget per registry host and credential kind,
// from the manifest responses that pass through Transport. It is safe for
// concurrent use; the zero value is not: use NewBudgets.
type Budgets struct {
	observe func(Budget)
	now     func() time.Time

	mu   sync.Mutex
	last map[budgetKey]Budget
}

type budgetKey struct {
	host          string
	authenticated bool
}

// NewBudgets returns an empty store; observe, when not nil, is called with
// each budget seen (metrics).
func NewBudgets(observe func(Budget)) *Budgets {
	return &Budgets{observe: observe, now: time.Now, last: map[budgetKey]Budget{}}
}

// Get is the last budget host stated for the credential kind, while its
// window lasts (a budget older than its window has been renewed since).
func (b *Budgets) Get(host string, authenticated bool) (Budget, bool) {
	if b == nil {
		return Budget{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.last[budgetKey{image.CanonicalHost(host), authenticated}]
	if !ok || (v.Window > 0 && b.now().Sub(v.Seen) > v.Window) {
		return Budget{}, false
	}
	return v, true
}

func (b *Budgets) record(v Budget) {
	b.mu.Lock()
	k := budgetKey{v.Host, v.Authenticated}
	if _, ok := b.last[k]; !ok && len(b.last) >= maxBudgetHosts {
		b.last = map[budgetKey]Budget{}
	}
	b.last[k] = v
	b.mu.Unlock()
	if b.observe != nil {
		b.observe(v)
	}
}

// Transport wraps next so that every manifest response's budget headers are
// kept. The credential kind comes from the request's context (the resolver
// marks it); a request without the mark counts as anonymous.
func (b *Budgets) Transport(next http.RoundTripper) http.RoundTripper {
	if b == nil || next == nil {
		return next
	}
	return &budgetTransport{next: next, budgets: b}
}

type budgetTransport struct {
	next    http.RoundTripper
	budgets *Budgets
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp == nil || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	limit, window, ok1 := parseRateLimit(resp.Header.Get(HeaderRateLimitLimit))
	remaining, _, ok2 := parseRateLimit(resp.Header.Get(HeaderRateLimitRemaining))
	if ok1 && ok2 {
		t.budgets.record(Budget{
			Host: image.CanonicalHost(req.URL.Host), Authenticated: authenticated(req.Context()),
			Limit: limit, Remaining: remaining, Window: window, Seen: t.budgets.now(),
		})
	}
	return resp, err
}

// CloseIdleConnections reaches the wrapped transport's pools.
func (t *budgetTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// parseRateLimit reads "100;w=21600" (the IETF RateLimit draft's form that
// Docker Hub sends): a count and, optionally, the window in seconds. A
// count alone has no window.
func parseRateLimit(v string) (n int, window time.Duration, ok bool) {
	count, params, _ := strings.Cut(strings.TrimSpace(v), ";")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 0 {
		return 0, 0, false
	}
	for p := range strings.SplitSeq(params, ";") {
		if w, ok := strings.CutPrefix(strings.TrimSpace(p), "w="); ok {
			if s, err := strconv.Atoi(w); err == nil && s > 0 {
				window = time.Duration(s) * time.Second
			}
		}
	}
	return n, window, true
}

type authenticatedKey struct{}

// withAuthenticated marks ctx's registry requests as made with a
// credential or not, for Budgets.
func withAuthenticated(ctx context.Context, yes bool) context.Context {
	return context.WithValue(ctx, authenticatedKey{}, yes)
}

func authenticated(ctx context.Context) bool {
	yes, _ := ctx.Value(authenticatedKey{}).(bool)
	return yes
}
