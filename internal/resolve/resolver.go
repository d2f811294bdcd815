package resolve

import (
	"context"
	"net/http"
	"slices"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/go-logr/logr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/cache"
)

// Resolver answers Lookup.Resolve from its registries through two caches: tag
// → digest (short TTL) and digest → facts (immutable, kept until evicted).
// Concurrent lookups of one key share one registry call. It is safe for
// concurrent use.
type Resolver struct {
	transport     http.RoundTripper
	insecure      map[string]bool
	log           logr.Logger
	tagTTL        time.Duration
	notFoundTTL   time.Duration
	tagSize       int
	digestSize    int
	maxFlight     time.Duration
	suggestBudget time.Duration
	maxTags       int
	userAgent     string
	bodyMemory    int64

	tags  *cache.Cache[v1.Hash]
	facts *cache.Cache[image.Facts]
}

var _ Lookup = (*Resolver)(nil)

// New returns a Resolver with the defaults above, changed by opts.
func New(opts ...Option) *Resolver {
	r := &Resolver{
		transport:     remote.DefaultTransport,
		insecure:      map[string]bool{},
		log:           logr.Discard(),
		tagTTL:        DefaultTagTTL,
		notFoundTTL:   DefaultNotFoundTTL,
		tagSize:       DefaultTagCacheSize,
		digestSize:    DefaultDigestCacheSize,
		maxFlight:     DefaultMaxFlight,
		suggestBudget: DefaultSuggestBudget,
		maxTags:       DefaultMaxListedTags,
		userAgent:     DefaultUserAgent,
		bodyMemory:    DefaultBodyMemory,
	}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	r.transport = redirectLimit{next: bodyLimit{
		next:   withInsecureTLS(r.transport, r.insecure, r.isInsecure),
		budget: semaphore.NewWeighted(r.bodyMemory),
	}}
	r.tags = cache.New[v1.Hash](r.tagSize, r.maxFlight)
	r.facts = cache.New[image.Facts](r.digestSize, r.maxFlight)
	return r
}

// Resolve asks the registry (or the first matching mirror) for the digest
// and platforms of req.Ref. A Ref without Repository is parsed from its
// Original. The error is always an *image.Error, returned by ctx's deadline at
// the latest.
func (r *Resolver) Resolve(ctx context.Context, req Request) (image.Facts, error) {
	ref := req.Ref
	if ref.Repository == "" {
		parsed, err := image.Parse(ref.Original)
		if err != nil {
			return image.Facts{}, err
		}
		ref = parsed
	}
	if ref.Original == "" {
		ref.Original = ref.String() // errors name the image somehow
	}
	rule, onMirror, ok, err := image.MirrorFor(req.Mirrors, ref)
	if err != nil {
		return image.Facts{}, err
	}
	if !ok {
		return r.resolveAt(ctx, ref, ref.Original, req.Credentials)
	}
	facts, err := r.resolveAt(ctx, onMirror, ref.Original, req.Credentials)
	if err == nil || !rule.FallbackToSource || ctx.Err() != nil {
		return facts, err
	}
	// Any failure of the mirror, a image.NotFound included, sends the lookup to
	// the source: runtimes (containerd's hosts.toml) fall back the same way,
	// so the pull would still succeed from there.
	r.log.V(1).Info("mirror failed, asking the source", "mirror", onMirror.Registry, "registry", ref.Registry, "class", classOf(err))
	return r.resolveAt(ctx, ref, ref.Original, req.Credentials)
}

// resolveAt resolves ref at its own repository; image is what the user
// wrote, for errors.
func (r *Resolver) resolveAt(ctx context.Context, ref image.Reference, original string, creds Credentials) (image.Facts, error) {
	identity := ""
	if creds != nil {
		identity = creds.Identity(ref.Registry)
	}
	dgst := ref.Digest
	if dgst == "" {
		key := identity + "\x00" + ref.Repository + ":" + ref.Tag
		h, _, err := r.tags.Do(ctx, key, func(ctx context.Context) (v1.Hash, time.Duration, error) {
			h, err := r.digestOf(ctx, ref, original, creds)
			return h, r.keep(err, r.tagTTL), err
		})
		if err != nil {
			return image.Facts{}, r.failure(original, ref, err)
		}
		dgst = h.String()
	}
	key := identity + "\x00" + ref.Repository + "@" + dgst
	facts, _, err := r.facts.Do(ctx, key, func(ctx context.Context) (image.Facts, time.Duration, error) {
		f, err := r.factsOf(ctx, ref, dgst, original, creds)
		return f, r.keep(err, cache.Forever), err
	})
	if err != nil {
		return image.Facts{}, r.failure(original, ref, err)
	}
	facts.Platforms = slices.Clone(facts.Platforms)
	facts.ResolvedRepository = ref.Repository
	if l := r.log.V(1); l.Enabled() { // spares the warm path the boxing
		l.Info("resolved", "registry", ref.Registry, "repository", ref.Repository, "digest", facts.Digest.String())
	}
	return facts, nil
}

// keep is how long to cache a result: success for ok, a confirmed image.NotFound
// for the image.NotFound TTL, anything else (401, 403, 429, 5xx, network) not at
// all — those depend on the caller or on the moment, not on the image.
func (r *Resolver) keep(err error, ok time.Duration) time.Duration {
	if err == nil {
		return ok
	}
	if classOf(err) == image.NotFound {
		return r.notFoundTTL
	}
	return 0
}

// failure is the *image.Error for this caller: cached errors are shared between
// callers, so each gets its own copy naming the image it wrote.
func (r *Resolver) failure(original string, ref image.Reference, err error) *image.Error {
	e := *Classify(original, ref.Registry, err)
	e.Image = original
	e.Suggestions = slices.Clone(e.Suggestions)
	return &e
}

func classOf(err error) image.Class {
	if err == nil {
		return ""
	}
	return Classify("", "", err).Class
}

// CacheStats counts the lookups of a Resolver's two caches since New: a hit
// found a kept result, a miss started a registry call or joined one.
type CacheStats struct {
	TagHits, TagMisses       uint64
	DigestHits, DigestMisses uint64
}

// Stats reports the lookups of the tag → digest and digest → facts caches,
// for metrics.
func (r *Resolver) Stats() CacheStats {
	var s CacheStats
	s.TagHits, s.TagMisses = r.tags.Stats()
	s.DigestHits, s.DigestMisses = r.facts.Stats()
	return s
}
