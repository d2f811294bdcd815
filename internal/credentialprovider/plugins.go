package credentialprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/pullguard/pullguard/internal/cache"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/text"
)

// Defaults of Load.
const (
	// MaxRun is the kubelet's catch-all bound on one plugin run.
	MaxRun = time.Minute
	// DefaultCacheSize bounds the answers kept per provider.
	DefaultCacheSize = 1024
	// globalKey is the cache key of a Global answer; the angle brackets
	// keep it apart from any image or registry name, as in the kubelet.
	globalKey = "<global>"
	// maxOutput bounds what a plugin may write on stdout.
	maxOutput = 1 << 20
	// waitDelay is how long a killed plugin's output pipes may stay open
	// (a child it started holding them) before the run is abandoned.
	waitDelay = time.Second
)

// Plugins are the configured credential provider plugins, in the order of
// their configuration. They implement keychain.Provider and are safe for
// concurrent use.
type Plugins struct {
	providers []*provider
	// waitShare is the part of a caller's remaining budget it waits for
	// the plugins; the rest is left for the registry.
	waitShare float64
	maxRun    time.Duration
}

var _ keychain.Provider = (*Plugins)(nil)

// Option configures Load.
type Option func(*options)

type options struct{ maxRun time.Duration }

// WithMaxRun bounds one plugin run (default MaxRun, the kubelet's).
func WithMaxRun(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.maxRun = d
		}
	}
}

// Load reads the configuration at configPath (ReadConfig) and finds each
// provider's executable in binDir, failing as the kubelet fails to start
// when one is missing.
func Load(configPath, binDir string, opts ...Option) (*Plugins, error) {
	o := options{maxRun: MaxRun}
	for _, opt := range opts {
		opt(&o)
	}
	if configPath == "" || binDir == "" {
		return nil, errors.New("credential provider plugins need both a config and a bin dir")
	}
	info, err := os.Stat(binDir)
	if err != nil {
		return nil, fmt.Errorf("credential provider bin dir: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("credential provider bin dir %s is not a directory", binDir)
	}
	cfgs, err := ReadConfig(configPath)
	if err != nil {
		return nil, err
	}
	ps := &Plugins{waitShare: 0.5, maxRun: o.maxRun}
	for _, c := range cfgs {
		bin, err := findPlugin(binDir, c.Name)
		if err != nil {
			return nil, err
		}
		ps.providers = append(ps.providers, newProvider(c, bin, o.maxRun))
	}
	return ps, nil
}

// Names lists the providers in order, for logs.
func (ps *Plugins) Names() []string {
	out := make([]string, 0, len(ps.providers))
	for _, p := range ps.providers {
		out = append(out, p.name)
	}
	return out
}

// Provide runs, side by side, every provider whose matchImages match
// repository, and returns their answers in configuration order, with the
// providers that failed. It waits at most part of ctx's remaining time
// (the whole of it when ctx has no deadline, bounded by MaxRun).
func (ps *Plugins) Provide(ctx context.Context, repository string) ([]*keychain.Config, []keychain.Failure) {
	if ps == nil {
		return nil, nil
	}
	var matched []*provider
	for _, p := range ps.providers {
		if p.matches(repository) {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return nil, nil
	}
	wait := ps.maxRun
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Duration(float64(time.Until(dl))*ps.waitShare))
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	configs := make([]*keychain.Config, len(matched))
	errs := make([]error, len(matched))
	var wg sync.WaitGroup
	for i, p := range matched {
		wg.Go(func() { configs[i], errs[i] = p.provide(wctx, repository) })
	}
	wg.Wait()
	var out []*keychain.Config
	var failures []keychain.Failure
	for i, p := range matched {
		if errs[i] != nil {
			reason := errs[i].Error()
			if wctx.Err() != nil && ctx.Err() == nil && errors.Is(errs[i], context.DeadlineExceeded) {
				reason = fmt.Sprintf("no answer within %s, the share of the request's budget it may use", roundWait(wait))
			}
			failures = append(failures, keychain.Failure{Source: p.source(), Reason: reason})
			continue
		}
		out = append(out, configs[i])
	}
	return out, failures
}

// provider is one configured plugin with its kept answers.
type provider struct {
	name        string
	bin         string
	args        []string
	env         []string
	matchImages []string
	defaultTTL  time.Duration
	needsToken  bool

	// answers are kept answers by cache key (image, registry or global);
	// runs share one plugin run per image and keep nothing themselves.
	answers *cache.Cache[*keychain.Config]
	runs    *cache.Cache[*credentialproviderv1.CredentialProviderResponse]
	// environ is the process's environment, given to every run.
	environ func() []string
}

func newProvider(c kubeletconfigv1.CredentialProvider, bin string, maxRun time.Duration) *provider {
	p := &provider{
		name:        c.Name,
		bin:         bin,
		args:        c.Args,
		matchImages: c.MatchImages,
		defaultTTL:  c.DefaultCacheDuration.Duration,
		needsToken:  c.TokenAttributes != nil,
		answers:     cache.New[*keychain.Config](DefaultCacheSize, 0),
		runs:        cache.New[*credentialproviderv1.CredentialProviderResponse](DefaultCacheSize, maxRun),
		environ:     os.Environ,
	}
	for _, e := range c.Env {
		p.env = append(p.env, e.Name+"="+e.Value)
	}
	return p
}

func (p *provider) source() string { return "credential provider " + p.name }

// matches is the kubelet's isImageAllowed.
func (p *provider) matches(repository string) bool {
	for _, m := range p.matchImages {
		if keychain.Matches(m, repository) {
			return true
		}
	}
	return false
}

// cacheKeys are the keys an answer for image is looked up under, in the
// kubelet's order.
func cacheKeys(image string) []string {
	return []string{image, registryOf(image), globalKey}
}

// registryOf is the kubelet's parseRegistry: what precedes the first "/".
func registryOf(image string) string {
	host, _, _ := strings.Cut(image, "/")
	return host
}

// provide is the kubelet's pluginProvider.provide for one image.
func (p *provider) provide(ctx context.Context, image string) (*keychain.Config, error) {
	if p.needsToken {
		return nil, errors.New("it needs the pod's service account token (tokenAttributes), which pullguard does not request")
	}
	for _, k := range cacheKeys(image) {
		if cfg, ok := p.answers.Get(k); ok {
			return cfg, nil
		}
	}
	resp, _, err := p.runs.Do(ctx, image, func(ctx context.Context) (*credentialproviderv1.CredentialProviderResponse, time.Duration, error) {
		r, err := p.run(ctx, image)
		return r, 0, err
	})
	if err != nil {
		return nil, err
	}
	key, err := answerKey(resp.CacheKeyType, image)
	if err != nil {
		return nil, err
	}
	auths := make(map[string]authn.AuthConfig, len(resp.Auth))
	for k, a := range resp.Auth {
		auths[k] = authn.AuthConfig{Username: a.Username, Password: a.Password}
	}
	cfg := keychain.FromAuths(p.source(), auths)
	if ttl := keepFor(resp.CacheDuration, p.defaultTTL); ttl > 0 {
		p.answers.Put(key, cfg, ttl)
	}
	return cfg, nil
}

// answerKey is where an answer of cacheKeyType for image is kept.
func answerKey(t credentialproviderv1.PluginCacheKeyType, image string) (string, error) {
	switch t {
	case credentialproviderv1.ImagePluginCacheKeyType:
		return image, nil
	case credentialproviderv1.RegistryPluginCacheKeyType:
		return registryOf(image), nil
	case credentialproviderv1.GlobalPluginCacheKeyType:
		return globalKey, nil
	}
	return "", fmt.Errorf("the plugin answered cacheKeyType %q; want Image, Registry or Global", text.Truncate(string(t), 64))
}

// keepFor is how long an answer is kept: its cacheDuration, or the
// provider's default when it names none; 0 (either way) keeps nothing.
func keepFor(d *metav1.Duration, def time.Duration) time.Duration {
	if d != nil {
		return d.Duration
	}
	return def
}

// run execs the plugin once for image and decodes its answer. Its errors
// never quote the plugin's output.
func (p *provider) run(ctx context.Context, image string) (*credentialproviderv1.CredentialProviderResponse, error) {
	req, err := encodeRequest(image)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p.bin, p.args...)
	// The configured env after the process's: later entries win.
	cmd.Env = append(p.environ(), p.env...)
	cmd.Stdin = bytes.NewReader(req)
	out := &limitedBuffer{max: maxOutput}
	cmd.Stdout = out
	// stderr is dropped: plugins print diagnostics there that may hold
	// tokens, and nothing of a plugin's output may reach a log.
	cmd.Stderr = nil
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("no answer: %w", ctx.Err())
	case errors.Is(err, errOutputTooLarge):
		return nil, err
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// Only the status: the output may hold credentials.
			return nil, errors.New(ee.ProcessState.String())
		}
		return nil, fmt.Errorf("could not be run: %w", err)
	}
	return decodeResponse(out.buf.Bytes())
}

func encodeRequest(image string) ([]byte, error) {
	req := credentialproviderv1.CredentialProviderRequest{
		TypeMeta: metav1.TypeMeta{APIVersion: pluginAPIVersion, Kind: "CredentialProviderRequest"},
		Image:    image,
	}
	return json.Marshal(req)
}

// decodeResponse decodes as the kubelet's strict decoder does: its
// apiVersion must be the one asked, its kind CredentialProviderResponse,
// and unknown or duplicate fields are refused.
func decodeResponse(data []byte) (*credentialproviderv1.CredentialProviderResponse, error) {
	var tm metav1.TypeMeta
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &tm); err != nil {
		// The decoder's message may quote the answer, which holds secrets.
		return nil, errors.New("the answer on stdout is not JSON")
	}
	if tm.APIVersion != pluginAPIVersion {
		return nil, fmt.Errorf("the answer's apiVersion is %q; want %s", text.Truncate(tm.APIVersion, 64), pluginAPIVersion)
	}
	if tm.Kind != "CredentialProviderResponse" {
		return nil, fmt.Errorf("the answer's kind is %q; want CredentialProviderResponse", text.Truncate(tm.Kind, 64))
	}
	var resp credentialproviderv1.CredentialProviderResponse
	strict, err := sigsjson.UnmarshalStrict(data, &resp)
	if err != nil || len(strict) > 0 {
		return nil, errors.New("the answer on stdout is not a valid CredentialProviderResponse")
	}
	return &resp, nil
}

// roundWait prints a wait as a person would say it.
func roundWait(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
