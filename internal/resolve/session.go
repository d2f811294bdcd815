package resolve

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/internal/cache"
)

// Left to itself, go-containerregistry starts every remote.Puller with a
// handshake: a GET /v2/ (the ping, for the registry's auth challenge) and,
// for a bearer registry, a token for the repository; a lookup that made a
// puller per call paid it two or three times (six requests for one new
// image). The handshake's results are kept instead, and each lookup builds
// its puller on them (transport.FromToken, the library's own way in):
//
//   - the challenge per registry (its realm and service are public: the
//     ping sends no credential), for challengeTTL;
//   - the token per registry, repository and credential identity, never
//     shared across identities, until shortly before it expires.
//
// Both caches are bounded LRUs, so 100,000 repositories cost at most
// their size. A token that stops working mid-way is refreshed by
// go-containerregistry on the 401 it gets, as before.
const (
	challengeTTL = 10 * time.Minute
	// tokenMargin is taken off a token's lifetime, for clocks and latency.
	tokenMargin = 10 * time.Second
	// defaultTokenLife is the distribution spec's lifetime of a token that
	// states none.
	defaultTokenLife = 60 * time.Second
	// maxTokenLife bounds how long a token is kept whatever it claims.
	maxTokenLife     = time.Hour
	sessionCacheSize = 4096
)

// sessions keeps the handshake's results.
type sessions struct {
	challenges *cache.Cache[*transport.Challenge]
	tokens     *cache.Cache[*transport.Token]
}

func newSessions(maxFlight time.Duration) sessions {
	return sessions{
		challenges: cache.New[*transport.Challenge](sessionCacheSize, maxFlight),
		tokens:     cache.New[*transport.Token](sessionCacheSize, maxFlight),
	}
}

// puller is a go-containerregistry puller for repo with auth (whose
// identity is identity), on a handshake done once and kept. Its requests go
// through the resolver's transport, which retries within each request's
// own deadline (retry.go), so one puller serves callers of any deadline.
func (r *Resolver) puller(ctx context.Context, repo name.Repository, identity string, auth authn.Authenticator) (*remote.Puller, error) {
	reg := repo.Registry
	ch, _, err := r.sessions.challenges.Do(ctx, reg.Scheme()+"://"+reg.RegistryStr(), func(ctx context.Context) (*transport.Challenge, time.Duration, error) {
		c, err := transport.Ping(ctx, reg, r.transport)
		return c, challengeTTL, err
	})
	if err != nil {
		return nil, err
	}
	// go-containerregistry picks the scheme the ping answered on, as the
	// handshake would.
	base := schemeOf(r.transport, reg.RegistryStr(), ch.Insecure)
	tok := &transport.Token{}
	if strings.EqualFold(ch.Scheme, "bearer") {
		key := identity + "\x00" + reg.Scheme() + "://" + repo.Name()
		tok, _, err = r.sessions.tokens.Do(ctx, key, func(ctx context.Context) (*transport.Token, time.Duration, error) {
			return r.token(ctx, repo, auth, base, ch)
		})
		if err != nil {
			return nil, err
		}
	}
	rt, err := transport.FromToken(reg, auth, base, ch, tok)
	if err != nil {
		return nil, err
	}
	return remote.NewPuller(remote.WithTransport(rt), remote.WithAuth(auth))
}

// token asks the registry's realm for a pull token of repo, and says how
// long to keep it. A credential that is a registry token already is used
// as it is.
func (r *Resolver) token(ctx context.Context, repo name.Repository, auth authn.Authenticator, base http.RoundTripper, ch *transport.Challenge) (*transport.Token, time.Duration, error) {
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, 0, err
	}
	if cfg.RegistryToken != "" {
		return &transport.Token{Token: cfg.RegistryToken}, maxTokenLife, nil
	}
	tok, err := transport.Exchange(ctx, repo.Registry, auth, base, []string{repo.Scope(transport.PullScope)}, ch)
	if err != nil {
		return nil, 0, err
	}
	if tok.Token == "" {
		// Some realms answer access_token only.
		tok.Token = tok.AccessToken
	}
	life := defaultTokenLife
	if tok.ExpiresIn > 0 {
		life = time.Duration(tok.ExpiresIn) * time.Second
	}
	return tok, min(max(life-tokenMargin, 0), maxTokenLife), nil
}

// schemeOf sends requests for host over plain HTTP when the ping needed
// it, and over HTTPS otherwise, whatever scheme go-containerregistry's
// name guessed (it guesses HTTP for localhost and private addresses, then
// pings both).
func schemeOf(next http.RoundTripper, host string, insecure bool) http.RoundTripper {
	scheme := "https"
	if insecure {
		scheme = "http"
	}
	return schemeTransport{next: next, host: host, scheme: scheme}
}

type schemeTransport struct {
	next         http.RoundTripper
	host, scheme string
}

func (t schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == t.host && req.URL.Scheme != t.scheme {
		req = req.Clone(req.Context())
		req.URL.Scheme = t.scheme
	}
	return t.next.RoundTrip(req)
}
