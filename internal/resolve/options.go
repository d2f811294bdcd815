package resolve

import (
	"net/http"
	"time"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/go-logr/logr"
)

// Defaults of New. Tags move, so their digest is kept briefly; digests never
// change, so their facts are kept until the LRU evicts them; a confirmed
// NotFound is kept shortly so a pushed image is seen soon after.
const (
	DefaultTagTTL          = time.Minute
	DefaultNotFoundTTL     = 15 * time.Second
	DefaultTagCacheSize    = 4096
	DefaultDigestCacheSize = 4096
	// DefaultMaxFlight bounds one shared registry call. It outlives a
	// single admission's budget on purpose: a caller stops waiting at its
	// own deadline, and the answer, once in, serves the next caller.
	DefaultMaxFlight = 10 * time.Second
	// DefaultSuggestBudget bounds listing tags for suggestions.
	DefaultSuggestBudget = 2 * time.Second
	// DefaultMaxListedTags stops listing tags of huge repositories.
	DefaultMaxListedTags = 10000
	// DefaultUserAgent is sent to registries.
	DefaultUserAgent = "pullguard"
	// DefaultMaxWaiting bounds the lookups of one registry under way at
	// once (Resolver.enter): at 1,000 admissions a second and a second's
	// latency, about as many as an answering registry ever has.
	DefaultMaxWaiting = 1024
	// DefaultTagStaleness is how long past its TTL a tag's digest is still
	// served while one background flight refreshes it: a digest is at most
	// DefaultTagTTL + DefaultTagStaleness (2 minutes) old when served.
	DefaultTagStaleness = time.Minute
)

// Option configures a Resolver.
type Option func(*Resolver)

// WithTransport sets the HTTP transport for registry calls, such as the
// address guard's. Default: go-containerregistry's remote.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(r *Resolver) {
		if rt != nil {
			r.transport = rt
		}
	}
}

// WithInsecureRegistries lists registry hosts ("registry.local:5000", or
// "registry.local" for any port) that may be reached over plain HTTP. No
// other host ever is. TLS without verification is the transport's to allow:
// give the address guard (WithTransport) the same list.
func WithInsecureRegistries(hosts ...string) Option {
	return func(r *Resolver) {
		for _, h := range hosts {
			r.insecure[image.CanonicalHost(h)] = true
		}
	}
}

// WithLogger sets the logger; the resolver is silent without one. Nothing
// logged carries credentials.
func WithLogger(l logr.Logger) Option {
	return func(r *Resolver) { r.log = l }
}

// WithTagTTL sets how long a tag's digest is kept.
func WithTagTTL(d time.Duration) Option {
	return func(r *Resolver) { r.tagTTL = d }
}

// WithNotFoundTTL sets how long a confirmed image.NotFound is kept (0: never).
func WithNotFoundTTL(d time.Duration) Option {
	return func(r *Resolver) { r.notFoundTTL = d }
}

// WithMaxFlight bounds each shared registry call.
func WithMaxFlight(d time.Duration) Option {
	return func(r *Resolver) { r.maxFlight = d }
}

// WithSuggestions bounds the tag listing behind image.NotFound suggestions: its
// time and how many tags are read. A budget of 0 turns suggestions off.
func WithSuggestions(budget time.Duration, maxTags int) Option {
	return func(r *Resolver) { r.suggestBudget, r.maxTags = budget, maxTags }
}

// WithBodyMemory bounds the answer bytes all lookups hold at once
// (default DefaultBodyMemory). A budget below the largest cap would stall
// lookups of answers of unknown length; it is raised to it.
func WithBodyMemory(bytes int64) Option {
	return func(r *Resolver) { r.bodyMemory = max(bytes, maxBlobBytes) }
}

// WithStallAfter sets how long a registry may leave every request to it
// unanswered before further requests to it fail at once (stall.go;
// default DefaultStallAfter).
func WithStallAfter(d time.Duration) Option {
	return func(r *Resolver) {
		if d > 0 {
			r.stallAfter = d
		}
	}
}

// WithMaxWaiting bounds the lookups of one registry under way at once;
// more fail at once as Unreachable (default DefaultMaxWaiting).
func WithMaxWaiting(n int) Option {
	return func(r *Resolver) {
		if n > 0 {
			r.maxWaiting = n
		}
	}
}

// WithTagStaleness sets how long past its TTL a tag's digest is served while
// it is refreshed in the background (0: every refresh is waited for).
func WithTagStaleness(d time.Duration) Option {
	return func(r *Resolver) { r.tagStaleness = max(d, 0) }
}
