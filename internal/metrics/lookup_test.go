package metrics

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
)

// gated resolves once release is closed, telling started when it begins.
type gated struct {
	started chan struct{}
	release chan struct{}
}

func (g *gated) Resolve(ctx context.Context, _ resolve.Request) (image.Facts, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
		return image.Facts{}, nil
	case <-ctx.Done():
		return image.Facts{}, ctx.Err()
	}
}

func TestLookupCountsInFlight(t *testing.T) {
	t.Parallel()
	m, _ := newMetrics(t)
	g := &gated{started: make(chan struct{}), release: make(chan struct{})}
	l := m.Lookup(g)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 3
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _, _ = l.Resolve(ctx, resolve.Request{}) })
	}
	for range n {
		<-g.started
	}
	if got := testutil.ToFloat64(m.inFlight); got != n {
		t.Errorf("in flight while resolving = %v, want %d", got, n)
	}
	close(g.release)
	wg.Wait()
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("in flight after = %v, want 0", got)
	}
}

func TestObserveCache(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	var mu sync.Mutex
	stats := resolve.CacheStats{TagHits: 3, TagMisses: 1, DigestHits: 7, DigestMisses: 2}
	if err := m.ObserveCache(func() resolve.CacheStats { mu.Lock(); defer mu.Unlock(); return stats }); err != nil {
		t.Fatal(err)
	}
	want := func(tagHits int) string {
		return `
# HELP pullguard_resolver_cache_lookups_total Resolver cache lookups, by cache (tag: tag to digest, digest: digest to facts) and result (hit, miss).
# TYPE pullguard_resolver_cache_lookups_total counter
pullguard_resolver_cache_lookups_total{cache="digest",result="hit"} 7
pullguard_resolver_cache_lookups_total{cache="digest",result="miss"} 2
pullguard_resolver_cache_lookups_total{cache="tag",result="hit"} ` + strconv.Itoa(tagHits) + `
pullguard_resolver_cache_lookups_total{cache="tag",result="miss"} 1
`
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(3)), "pullguard_resolver_cache_lookups_total"); err != nil {
		t.Error(err)
	}
	// Read at each scrape, not copied at registration.
	mu.Lock()
	stats.TagHits = 10
	mu.Unlock()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(10)), "pullguard_resolver_cache_lookups_total"); err != nil {
		t.Error(err)
	}
	if err := m.ObserveCache(func() resolve.CacheStats { return resolve.CacheStats{} }); err == nil {
		t.Error("second ObserveCache = nil error, want already registered")
	}
}
