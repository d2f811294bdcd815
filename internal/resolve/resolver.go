package resolve

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/go-logr/logr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/cache"
	"github.com/pullguard/pullguard/internal/keychain"
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
	maxFlight     time.Duration
	suggestBudget time.Duration
	maxTags       int
	bodyMemory    int64
	stallAfter    time.Duration
	maxWaiting    int
	tagStaleness  time.Duration
	nodeHosts     NodeHosts // nil: every registry pulls from itself

	waitMu  sync.Mutex
	waiting map[string]int // lookups under way, by registry host

	tags     *cache.Cache[v1.Hash]
	facts    *cache.Cache[known]
	sessions sessions
	// manifests keeps, by digest, the blobs of index entries verified;
	// blobs the blobs found (for the tag TTL: a blob can be deleted).
	manifests *cache.Cache[[]v1.Descriptor]
	blobs     *cache.Cache[struct{}]
}

// known is what is kept of a manifest read by digest: its facts and, for a
// single manifest, the blobs it names (config first), for VerifyLayers,
// and its config when the registry lacks it.
type known struct {
	facts  image.Facts
	blobs  []v1.Descriptor
	broken []image.Broken
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
		maxFlight:     DefaultMaxFlight,
		suggestBudget: DefaultSuggestBudget,
		maxTags:       DefaultMaxListedTags,
		bodyMemory:    DefaultBodyMemory,
		stallAfter:    DefaultStallAfter,
		maxWaiting:    DefaultMaxWaiting,
		tagStaleness:  DefaultTagStaleness,
		waiting:       map[string]int{},
	}
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	// Every request passes, from the top: the user agent, retries within
	// the request's deadline, the redirect limit, the body caps, the stall
	// guard, then the caller's transport (the address guard's).
	r.transport = userAgent{agent: DefaultUserAgent, next: retrying{next: redirectLimit{next: bodyLimit{
		next:   newStallGuard(r.transport, r.stallAfter, DefaultStallProbe),
		budget: semaphore.NewWeighted(r.bodyMemory),
	}}}}
	r.tags = cache.New[v1.Hash](DefaultTagCacheSize, r.maxFlight)
	r.facts = cache.New[known](DefaultDigestCacheSize, r.maxFlight)
	r.sessions = newSessions(r.maxFlight)
	r.manifests = cache.New[[]v1.Descriptor](DefaultDigestCacheSize, r.maxFlight)
	r.blobs = cache.New[struct{}](DefaultDigestCacheSize, r.maxFlight)
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
	w := verification{platforms: req.Platforms, depth: req.Depth}
	rule, onMirror, ok, err := image.MirrorFor(req.Mirrors, ref)
	if err != nil {
		return image.Facts{}, err
	}
	if !ok {
		return r.resolveOnNodes(ctx, ref, ref.Original, req.Credentials, w)
	}
	facts, err := r.resolveOnNodes(ctx, onMirror, ref.Original, req.Credentials, w)
	if err == nil || !rule.FallbackToSource || ctx.Err() != nil {
		return facts, err
	}
	// Any failure of the mirror, a image.NotFound included, sends the lookup to
	// the source: runtimes (containerd's hosts.toml) fall back the same way,
	// so the pull would still succeed from there.
	r.log.V(1).Info("mirror failed, asking the source", "mirror", onMirror.Registry, "registry", ref.Registry, "class", classOf(err))
	return r.resolveOnNodes(ctx, ref, ref.Original, req.Credentials, w)
}

// resolveAt resolves ref at its own repository with the credentials the
// kubelet would try there, in its order, until the registry accepts one;
// original is what the user wrote, for errors. Like the kubelet, it pulls
// anonymously only when no credential matched, and moves on after any
// failure. Two shortcuts keep the registry's load and the caller's budget
// what one lookup costs, without changing the answer: a credential whose
// success is kept is tried first (whichever credential pulls, the kubelet
// pulls the same image), and a credential equal to one tried already shares
// its answer.
func (r *Resolver) resolveAt(ctx context.Context, ref image.Reference, original string, creds Credentials, w verification) (image.Facts, error) {
	done, err := r.enter(ref.Registry)
	if err != nil {
		return image.Facts{}, &image.Error{Class: image.Unreachable, Image: original, Registry: ref.Registry, Reason: err.Error(), Err: err}
	}
	defer done()
	var cands []keychain.Credential
	if creds != nil {
		var err error
		if cands, err = creds.Candidates(ctx, ref.Repository); err != nil {
			return image.Facts{}, &image.Error{Class: image.Unauthorized, Image: original, Registry: ref.Registry, Reason: err.Error(), Err: err}
		}
	}
	cands, failed := withoutFailed(cands)
	if len(cands) == 0 {
		facts, err := r.resolveWith(ctx, ref, original, keychain.Credential{}, w)
		if err != nil {
			return image.Facts{}, providersFailed(r.failure(original, ref, err), failed)
		}
		return facts, nil
	}
	cands = r.keptFirst(ref, cands)
	var fails []*image.Error
	var tried []image.Attempt
	answers := map[string]*image.Error{} // by identity
	for _, c := range cands {
		e, seen := answers[c.Identity]
		if !seen {
			facts, err := r.resolveWith(ctx, ref, original, c, w)
			if err == nil {
				return facts, nil
			}
			e = r.failure(original, ref, err)
			answers[c.Identity] = e
			fails = append(fails, e)
		}
		tried = append(tried, image.Attempt{Source: c.Source, Class: e.Class, StatusCode: e.StatusCode, Answer: answerOf(e)})
		// Without an HTTP answer (network, TLS, address guard, deadline)
		// the registry never judged the credential: the next one would
		// meet the same wall, and the budget is better kept.
		if e.StatusCode == 0 || ctx.Err() != nil {
			break
		}
	}
	e := verdict(fails)
	e.Tried = tried
	return image.Facts{}, providersFailed(e, failed)
}

// enter counts a lookup of registry under way, or refuses it when
// maxWaiting are already: each holds an admission and its connection, so a
// registry that stops answering would otherwise gather every admission
// that names it until the stall guard gives its request up. A registry
// that answers keeps the count near rate × latency, far below the bound.
func (r *Resolver) enter(registry string) (func(), error) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if r.waiting[registry] >= r.maxWaiting {
		return nil, fmt.Errorf("%d lookups of registry %s are waiting for its answers already; pullguard does not queue more", r.maxWaiting, registry)
	}
	r.waiting[registry]++
	return func() {
		r.waitMu.Lock()
		defer r.waitMu.Unlock()
		if r.waiting[registry]--; r.waiting[registry] <= 0 {
			delete(r.waiting, registry)
		}
	}, nil
}

// keptFirst moves the first credential whose answer for ref is kept to the
// front, so a warm cache costs no registry request for the credentials
// before it (which the kubelet would try, and which would fail or pull the
// same image).
func (r *Resolver) keptFirst(ref image.Reference, cands []keychain.Credential) []keychain.Credential {
	for i, c := range cands {
		kept := false
		if ref.Digest == "" {
			kept = r.tags.Kept(tagKey(c.Identity, ref))
		} else {
			kept = r.facts.Kept(factsKey(c.Identity, ref, ref.Digest))
		}
		if kept {
			if i == 0 {
				return cands
			}
			out := append([]keychain.Credential{c}, cands[:i]...)
			return append(out, cands[i+1:]...)
		}
	}
	return cands
}

// verdict is the failure reported when every credential failed. One that
// is no refusal (RateLimited, Unreachable, AddressBlocked) wins: a
// credential whose answer is not known might have pulled, so the policy's
// onRegistryError decides, never a deny on a guess. Among refusals, the
// answer that got furthest: NotFound (the registry took the credential and
// has no such image) over Forbidden (it knows the account, which may not
// read the repository) over Unauthorized (it refused the credential). Ties
// go to the first in the kubelet's order.
func verdict(fails []*image.Error) *image.Error {
	rank := func(c image.Class) int {
		switch c {
		case image.Unauthorized:
			return 1
		case image.Forbidden:
			return 2
		case image.NotFound:
			return 3
		}
		return 4
	}
	best := fails[0]
	for _, e := range fails[1:] {
		if rank(e.Class) > rank(best.Class) {
			best = e
		}
	}
	return best
}

// answerOf is an attempt's answer in short: the HTTP status, else the class.
func answerOf(e *image.Error) string {
	if e.StatusCode == 0 {
		return strings.ToLower(string(e.Class))
	}
	if t := http.StatusText(e.StatusCode); t != "" {
		return strconv.Itoa(e.StatusCode) + " " + t
	}
	return strconv.Itoa(e.StatusCode)
}

func tagKey(identity string, ref image.Reference) string {
	return identity + "\x00" + ref.Repository + ":" + ref.Tag
}

func factsKey(identity string, ref image.Reference, dgst string) string {
	return identity + "\x00" + ref.Repository + "@" + dgst
}

// resolveWith resolves ref with one credential. Cache keys carry the
// credential's identity, so an answer obtained with it is only served to
// callers that hold it ("" for anonymous answers, which anyone may have).
func (r *Resolver) resolveWith(ctx context.Context, ref image.Reference, original string, cred keychain.Credential, w verification) (image.Facts, error) {
	ctx = withAuthenticated(ctx, cred.Identity != "")
	dgst := ref.Digest
	if dgst == "" {
		// Past its TTL a tag's digest is still served for the staleness
		// window while one flight refreshes it: no admission waits on it.
		h, _, err := r.tags.DoStale(ctx, tagKey(cred.Identity, ref), r.tagStaleness, func(ctx context.Context) (v1.Hash, time.Duration, error) {
			h, err := r.digestOf(ctx, ref, original, cred)
			return h, r.keep(err, r.tagTTL), err
		})
		if err != nil {
			return image.Facts{}, err
		}
		dgst = h.String()
	}
	k, _, err := r.facts.Do(ctx, factsKey(cred.Identity, ref, dgst), func(ctx context.Context) (known, time.Duration, error) {
		k, err := r.factsOf(ctx, ref, dgst, original, cred)
		return k, r.keepKnown(k, err), err
	})
	if err != nil {
		return image.Facts{}, err
	}
	facts := k.facts
	facts.Platforms = slices.Clone(facts.Platforms)
	facts.Manifests = slices.Clone(facts.Manifests)
	facts.Broken = slices.Clone(k.broken)
	if len(facts.Broken) == 0 {
		if facts.Broken, err = r.verify(ctx, ref, original, cred, facts, k.blobs, w); err != nil {
			return image.Facts{}, err
		}
	}
	facts.ResolvedRepository = ref.Repository
	facts.Authenticated = cred.Identity != ""
	if l := r.log.V(1); l.Enabled() { // spares the warm path the boxing
		l.Info("resolved", "registry", ref.Registry, "repository", ref.Repository, "digest", facts.Digest.String())
	}
	return facts, nil
}

// keepKnown is how long to keep a manifest's facts: until evicted (content
// by digest does not change), but as briefly as a NotFound when the
// registry lacks its config (it may be pushed again).
func (r *Resolver) keepKnown(k known, err error) time.Duration {
	if err == nil && len(k.broken) > 0 {
		return r.notFoundTTL
	}
	return r.keep(err, cache.Forever)
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
