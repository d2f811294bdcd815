package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/resolve"
)

// ObserveCache registers resolver_cache_lookups_total{cache, result},
// read from stats at each scrape: cache "tag" (tag → digest) or "digest"
// (digest → facts), result "hit" or "miss". stats must only grow (a sum over
// resolvers must keep what retired resolvers counted). Call it once.
func (m *Metrics) ObserveCache(stats func() resolve.CacheStats) error {
	if m == nil || stats == nil {
		return nil
	}
	series := []struct {
		cache, result string
		read          func(resolve.CacheStats) uint64
	}{
		{"tag", "hit", func(s resolve.CacheStats) uint64 { return s.TagHits }},
		{"tag", "miss", func(s resolve.CacheStats) uint64 { return s.TagMisses }},
		{"digest", "hit", func(s resolve.CacheStats) uint64 { return s.DigestHits }},
		{"digest", "miss", func(s resolve.CacheStats) uint64 { return s.DigestMisses }},
	}
	for _, s := range series {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace:   Namespace,
			Name:        "resolver_cache_lookups_total",
			Help:        "Resolver cache lookups, by cache (tag: tag to digest, digest: digest to facts) and result (hit, miss).",
			ConstLabels: prometheus.Labels{"cache": s.cache, "result": s.result},
		}, func() float64 { return float64(s.read(stats())) })
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
