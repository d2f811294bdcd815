package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/metrics"
	"github.com/pullguard/pullguard/internal/nodehosts"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// maxNetworks bounds the resolvers kept: one per distinct network allowance
// of the cluster's ImagePolicies, which are few. Past it the least recently
// used resolver is dropped (and its cache with it), never the guard.
const maxNetworks = 32

// networkResolvers gives each distinct network allowance (the serve flags
// widened by a policy's spec.network) a resolver of its own: the address
// guard is part of the transport, so two allowances cannot share one, and
// sharing a cache across them would let a policy that allows private
// addresses answer for one that does not. It is webhook.Options.ResolverFor.
type networkResolvers struct {
	base addressguard.Config
	// maxFlight bounds each shared registry lookup: the request budget, so
	// a lookup the mutating call leaves running ends before the validating
	// call that joins it must answer.
	maxFlight time.Duration
	// tagStaleness is how long past its TTL a tag's digest is served
	// while it is refreshed.
	tagStaleness time.Duration
	metrics      *metrics.Metrics // nil records nothing
	log          logr.Logger
	// nodeHosts is the nodes' containerd registry configuration; nil for
	// none (every registry pulls from itself).
	nodeHosts *nodehosts.Config
	// budgets keeps the pull budgets registries state, from every
	// resolver's responses.
	budgets *resolve.Budgets

	mu   sync.Mutex
	live *lru.Cache[string, networkResolver]
	// retired holds what dropped resolvers counted, so the cache counters
	// only grow.
	retired resolve.CacheStats
}

type networkResolver struct {
	resolver *resolve.Resolver
	lookup   resolve.Lookup // resolver behind the in-flight gauge
}

func newNetworkResolvers(base addressguard.Config, nodeHosts *nodehosts.Config, maxFlight, tagStaleness time.Duration, m *metrics.Metrics, log logr.Logger) (*networkResolvers, error) {
	p := &networkResolvers{base: base, nodeHosts: nodeHosts, maxFlight: maxFlight, tagStaleness: tagStaleness, metrics: m, log: log,
		budgets: resolve.NewBudgets(m.PullBudget)}
	// The eviction callback runs inside Add, which Lookup calls under p.mu.
	live, err := lru.NewWithEvict(maxNetworks, func(_ string, r networkResolver) {
		p.retired = addStats(p.retired, r.resolver.Stats())
	})
	if err != nil {
		return nil, fmt.Errorf("network resolvers: %w", err)
	}
	p.live = live
	return p, nil
}

// Lookup is the resolver for n (see widen).
func (p *networkResolvers) Lookup(n v1alpha1.Network) resolve.Lookup {
	cfg := widen(p.base, n)
	key := fmt.Sprintf("loopback=%t private=%t insecure=%s",
		cfg.AllowLoopback, cfg.AllowPrivate, strings.Join(cfg.InsecureRegistries, ","))

	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.live.Get(key); ok {
		return r.lookup
	}
	// The budgets' transport reads what the registry answered, behind the
	// metrics' timing.
	wrap := func(rt http.RoundTripper) http.RoundTripper { return p.budgets.Transport(p.metrics.Transport(rt)) }
	res := resolve.New(append(registryOptions(p.nodeHosts, cfg, wrap),
		resolve.WithLogger(p.log.WithValues("network", key)),
		resolve.WithMaxFlight(p.maxFlight),
		resolve.WithTagStaleness(p.tagStaleness),
	)...)
	r := networkResolver{resolver: res, lookup: p.metrics.Lookup(res)}
	p.live.Add(key, r)
	return r.lookup
}

// PullBudget is the pull budget host last stated for the credential kind.
func (p *networkResolvers) PullBudget(host string, authenticated bool) (image.PullBudget, bool) {
	return p.budgets.Get(host, authenticated)
}

// Stats sums the cache lookups of every resolver, dropped ones included.
func (p *networkResolvers) Stats() resolve.CacheStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.retired
	for _, r := range p.live.Values() {
		s = addStats(s, r.resolver.Stats())
	}
	return s
}

// widen is base with a policy's network allowances: the flags allow what
// they allow, and a policy can only widen that (loopback, private
// addresses, insecure registries), never narrow it.
func widen(base addressguard.Config, n v1alpha1.Network) addressguard.Config {
	base.AllowLoopback = base.AllowLoopback || n.AllowLoopback
	base.AllowPrivate = base.AllowPrivate || n.AllowPrivate
	base.InsecureRegistries = insecureUnion(base.InsecureRegistries, n.InsecureRegistries)
	return base
}

// insecureUnion is the sorted, de-duplicated union of the flag's hosts and
// the policy's, spelled canonically, so equal allowances share a key.
func insecureUnion(flags []string, policy []v1alpha1.Host) []string {
	var out []string
	for _, h := range flags {
		out = append(out, image.CanonicalHost(h))
	}
	for _, h := range policy {
		out = append(out, image.CanonicalHost(string(h)))
	}
	out = slices.DeleteFunc(out, func(h string) bool { return h == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func addStats(a, b resolve.CacheStats) resolve.CacheStats {
	return resolve.CacheStats{
		TagHits: a.TagHits + b.TagHits, TagMisses: a.TagMisses + b.TagMisses,
		DigestHits: a.DigestHits + b.DigestHits, DigestMisses: a.DigestMisses + b.DigestMisses,
	}
}
