// Package cache memoizes expensive lookups (registry round trips) in a
// bounded LRU where every entry carries its own expiry, and makes concurrent
// callers of one key share a single call.
//
// The LRU is hashicorp/golang-lru's plain cache rather than its expirable
// variant because the latter has one TTL for all entries, while callers here
// decide per result: a digest's facts are kept until evicted, a tag's digest
// for a short while, a failure for shorter still.
package cache

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Forever keeps a result until the LRU evicts it (content-addressed facts
// never change).
const Forever time.Duration = math.MaxInt64

// DefaultSize is the number of entries kept when New is given a size below 1.
const DefaultSize = 1024

// entry is one kept result. A zero expires means Forever.
type entry[V any] struct {
	val     V
	err     error
	expires time.Time
}

func (e entry[V]) live(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

// Cache is a bounded, expiring memo of fn results keyed by string. It is safe
// for concurrent use; the zero value is not usable, call New.
type Cache[V any] struct {
	lru       *lru.Cache[string, entry[V]]
	flights   singleflight.Group
	maxFlight time.Duration
	// now is the clock for expiry; tests in this package replace it so TTL
	// tests do not sleep. The flight deadline uses the real clock.
	now func() time.Time

	hits, misses atomic.Uint64
}

// New returns a cache keeping at most size entries (DefaultSize when size < 1)
// whose calls each run for at most maxFlight (no bound when maxFlight <= 0).
func New[V any](size int, maxFlight time.Duration) *Cache[V] {
	if size < 1 {
		size = DefaultSize
	}
	l, err := lru.New[string, entry[V]](size)
	if err != nil {
		// lru.New fails only for size <= 0, excluded above; keep a usable
		// cache rather than panic should the library ever change.
		l, _ = lru.New[string, entry[V]](DefaultSize)
	}
	return &Cache[V]{lru: l, maxFlight: maxFlight, now: time.Now}
}

// Do returns the kept value for key, or calls fn once for all concurrent
// callers of the key (golang.org/x/sync/singleflight, DoChan). fn runs under a
// context detached from the callers' cancellation (context.WithoutCancel of the
// caller that started the flight, keeping values such as a logger) and bounded
// by maxFlight; a caller whose ctx ends stops waiting and gets ctx.Err()
// without failing the others; the flight goes on and its result is kept for
// later callers. fn returns how long to keep the result (0 = do not keep); an
// error is kept (and returned to later callers) only if ttl > 0.
//
// hit reports whether the result was already kept; callers that shared a
// flight get hit == false.
func (c *Cache[V]) Do(ctx context.Context, key string, fn func(ctx context.Context) (V, time.Duration, error)) (V, bool, error) {
	if e, ok := c.lookup(key); ok {
		c.hits.Add(1)
		return e.val, true, e.err
	}
	c.misses.Add(1)
	if err := ctx.Err(); err != nil {
		// Nobody would wait for a flight started now.
		var zero V
		return zero, false, err
	}
	ch := c.flights.DoChan(key, func() (any, error) {
		return c.fly(ctx, key, fn), nil
	})
	select {
	case r := <-ch:
		// fly always returns an entry[V] and a nil error; the checked
		// assertion keeps a surprise from becoming a panic.
		e, _ := r.Val.(entry[V])
		return e.val, false, e.err
	case <-ctx.Done():
		var zero V
		return zero, false, ctx.Err()
	}
}

// DoStale is Do, except when key holds no live result but a success that
// expired at most grace ago: then it returns that at once, with stale
// true, and refreshes the key with one flight in the background (whose
// result the next callers get). A refresh that fails leaves the old
// success to be served until grace has passed; one that is kept (a
// confirmed NotFound, say) is served from then on.
func (c *Cache[V]) DoStale(ctx context.Context, key string, grace time.Duration, fn func(ctx context.Context) (V, time.Duration, error)) (v V, stale bool, err error) {
	if _, ok := c.lookup(key); !ok && grace > 0 {
		if e, ok := c.lru.Peek(key); ok && e.err == nil && !e.expires.IsZero() && c.now().Sub(e.expires) <= grace {
			c.hits.Add(1)
			c.flights.DoChan(key, func() (any, error) { // nobody waits on it
				return c.fly(ctx, key, fn), nil
			})
			return e.val, true, nil
		}
	}
	v, _, err = c.Do(ctx, key, fn)
	return v, false, err
}

// Fill keeps v for key for ttl, as a flight of the key would (it waits for
// one under way and keeps that one's result instead), without counting a
// hit or a miss: for a result another call brought in with its own.
func (c *Cache[V]) Fill(key string, v V, ttl time.Duration) {
	<-c.flights.DoChan(key, func() (any, error) {
		return c.fly(context.Background(), key, func(context.Context) (V, time.Duration, error) { return v, ttl, nil }), nil
	})
}

// Last returns key's last success, live or expired (while the LRU holds
// it), without counting a hit or a miss: what a refresh compares with.
func (c *Cache[V]) Last(key string) (V, bool) {
	if e, ok := c.lru.Peek(key); ok && e.err == nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

// Kept reports whether key holds a live success, without counting a hit
// or a miss: callers holding several keys for one answer ask which to try
// first.
func (c *Cache[V]) Kept(key string) bool {
	e, ok := c.lookup(key)
	return ok && e.err == nil
}

// Get returns the live success kept for key, without counting a hit or a
// miss.
func (c *Cache[V]) Get(key string) (V, bool) {
	e, ok := c.lookup(key)
	if !ok || e.err != nil {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Put keeps val under key for ttl (Forever keeps it until evicted; ttl <= 0
// removes the key). It is for callers that decide a result's key only once
// they have it (a credential provider's answer says which images it is
// for): keys written with Put must never be given to Do, whose flights
// assume that they alone write their key.
func (c *Cache[V]) Put(key string, val V, ttl time.Duration) {
	switch {
	case ttl <= 0:
		c.lru.Remove(key)
	case ttl == Forever:
		c.lru.Add(key, entry[V]{val: val})
	default:
		c.lru.Add(key, entry[V]{val: val, expires: c.now().Add(ttl)})
	}
}

// Stats reports how many calls of Do found a kept result (hits) and how many
// did not (misses, whether they started a flight or joined one).
func (c *Cache[V]) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Len is the number of entries held, including expired ones not yet replaced
// or evicted.
func (c *Cache[V]) Len() int {
	return c.lru.Len()
}

// lookup returns the live entry for key. Expired entries are left in place:
// only a flight of the key writes the key, so a reader removing a stale entry
// could race with a flight storing a fresh one.
func (c *Cache[V]) lookup(key string) (entry[V], bool) {
	e, ok := c.lru.Get(key)
	if !ok || !e.live(c.now()) {
		return entry[V]{}, false
	}
	return e, true
}
