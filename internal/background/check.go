package background

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/pullguard/pullguard/internal/cache"
	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Defaults of a Checker.
const (
	// DefaultQPS is how many lookups per second one registry host gets:
	// a cycle over 500 images of one registry takes 100 s, which a 10
	// minute interval leaves room for, and stays far below what registries
	// allow an authenticated client.
	DefaultQPS = 5.0
	// DefaultParallel is how many workloads are checked at once; lookups
	// of one host still wait for its rate.
	DefaultParallel = 16
	// DefaultLookupTimeout bounds one lookup once its turn has come (the
	// rate limit's wait is not counted): there is no admission deadline
	// here, but a registry that hangs must not hold the cycle.
	DefaultLookupTimeout = 30 * time.Second
	// maxBatchKeys bounds the lookups one batch remembers: a cluster's
	// distinct images times their credential identities.
	maxBatchKeys = 1 << 16
	// maxLimiters bounds the per-host rate limiters kept (hosts are what
	// pods name, so user input); past it they start over.
	maxLimiters = 1024
)

// Cluster is what the checker reads of the cluster: credentials and
// candidate nodes (as decide.SettingFor asks them) and the namespace's policy.
// internal/cluster.View has it.
type Cluster interface {
	decide.Cluster
	Policy(ctx context.Context, namespace string) (*policies.Policy, error)
}

// Checker checks workloads as admission would check them now.
type Checker struct {
	// Cluster is the cluster view admission uses.
	Cluster Cluster
	// ResolverFor is the resolver for a policy's network allowances: the
	// webhook's (Options.ResolverFor), so both share one cache.
	ResolverFor func(v1alpha1.Network) resolve.Lookup
	// QPS is the lookups per second per registry host; 0 means DefaultQPS.
	QPS float64
	// Parallel is how many workloads are checked at once; 0 means
	// DefaultParallel.
	Parallel int
	// LookupTimeout bounds one lookup; 0 means DefaultLookupTimeout.
	LookupTimeout time.Duration
	// PullBudgets gives registries' last stated pull budgets (as the
	// webhook's Options.PullBudgets); nil knows none.
	PullBudgets func(host string, authenticated bool) (image.PullBudget, bool)

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// Result is the verdict on one workload.
type Result struct {
	Workload Workload
	// Policy is the name of the ImagePolicy that decided on it.
	Policy string
	// Containers are the verdicts per image use, in the pod spec's order.
	Containers []ContainerResult
	// Err is a failure of the cluster view: the workload was not checked,
	// and its previous verdict stands.
	Err error
}

// ContainerResult is the verdict on one container's image.
type ContainerResult struct {
	Container, Image string
	// Class is the worst finding's class; "" means the image would pull.
	Class   image.Class
	Action  policies.Action
	Message string
	Fix     string
	// Digest is what the image resolved to, when it did.
	Digest string
}

// Failing says whether the container's next pull would be refused at
// admission: the policy denies its finding.
func (c ContainerResult) Failing() bool { return c.Class != "" && c.Action == policies.Deny }

// Stats count what a Check asked.
type Stats struct {
	// Lookups are the distinct (image, credential identity) pairs asked
	// of a resolver; Shared the image uses answered from one of them.
	Lookups, Shared int64
}

// Check checks ws, each (image, credential identity) asked once, lookups
// of one registry host at most QPS per second. It returns one Result per
// workload, in ws's order.
func (c *Checker) Check(ctx context.Context, ws []Workload) ([]Result, Stats) {
	b := &batch{checker: c, memo: cache.New[image.Facts](maxBatchKeys, 0)}
	out := make([]Result, len(ws))
	g, gctx := errgroup.WithContext(ctx)
	par := c.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	g.SetLimit(par)
	for i := range ws {
		g.Go(func() error {
			out[i] = c.checkOne(gctx, b, &ws[i])
			return nil
		})
	}
	_ = g.Wait() // checkOne never fails; a failure is in its Result
	return out, Stats{Lookups: b.lookups.Load(), Shared: b.asked.Load() - b.lookups.Load()}
}

// checkOne is one workload through decide, then the moved-tag check.
func (c *Checker) checkOne(ctx context.Context, b *batch, w *Workload) Result {
	r := Result{Workload: *w}
	uses := workload.Uses(w.Spec, w.SpecPointer)
	p, err := c.Cluster.Policy(ctx, w.Ref.Namespace)
	if err != nil {
		r.Err = fmt.Errorf("reading the image policy: %w", err)
		return r
	}
	r.Policy = p.Name()
	rec := &recording{batch: b, network: p.Network(), digests: map[string]string{}}
	if c.ResolverFor != nil {
		rec.inner = c.ResolverFor(p.Network())
	}
	setting, err := decide.SettingFor(ctx, c.Cluster, w.Ref.Namespace, uses, rec)
	if err != nil {
		r.Err = err
		return r
	}
	// A running pod's affinity cannot change: partial platform support is
	// a warning, as admission says it of a Pod update.
	setting.AffinityFixed = true
	setting.Budget = c.PullBudgets
	d := decide.Decide(ctx, p, w.Object(), uses, setting)
	worst := map[string]policies.Finding{}
	for _, f := range d.Findings {
		if prev, ok := worst[f.Pointer]; !ok || rank(f.Action) > rank(prev.Action) {
			worst[f.Pointer] = f
		}
	}
	for _, u := range uses {
		cr := ContainerResult{Container: u.Container, Image: u.Image, Digest: rec.digest(u.Image)}
		if f, ok := worst[u.Pointer]; ok {
			cr.Class, cr.Action, cr.Message, cr.Fix = f.Class, f.Action, f.Message, f.Fix
		} else {
			movedTag(&cr, w.Running[Container{Name: u.Container, Image: u.Image}])
		}
		r.Containers = append(r.Containers, cr)
	}
	return r
}

// movedTag makes cr a MovedTag warning when its tag resolved to a digest
// none of the running pods run.
func movedTag(cr *ContainerResult, running []string) {
	if cr.Digest == "" || len(running) == 0 || strings.Contains(cr.Image, "@") {
		return
	}
	for _, d := range running {
		if d == cr.Digest {
			return
		}
	}
	cr.Class, cr.Action = image.MovedTag, policies.Warn
	cr.Message = fmt.Sprintf("container %q: image %q now resolves to %s, but its running pods run %s: new pods would run another build",
		cr.Container, cr.Image, cr.Digest, strings.Join(running, ", "))
	cr.Fix = fmt.Sprintf("roll the workload out again to run the new build everywhere, or pin the digest it runs (%s@%s)",
		untagged(cr.Image), running[0])
}

// untagged is ref without its tag (the part after the last ":" past the
// last "/"), for writing a digest reference.
func untagged(ref string) string {
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i]
	}
	return ref
}

func rank(a policies.Action) int {
	switch a {
	case policies.Deny:
		return 3
	case policies.Warn:
		return 2
	case policies.Audit:
		return 1
	}
	return 0
}

// limiter is host's rate limiter, shared by every batch, so event-driven
// checks and cycles together keep to QPS.
func (c *Checker) limiter(host string) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limiters == nil || len(c.limiters) >= maxLimiters {
		c.limiters = map[string]*rate.Limiter{}
	}
	l, ok := c.limiters[host]
	if !ok {
		qps := c.QPS
		if qps <= 0 {
			qps = DefaultQPS
		}
		// A burst of one: lookups are spread evenly, never bunched.
		l = rate.NewLimiter(rate.Limit(qps), 1)
		c.limiters[host] = l
	}
	return l
}

func (c *Checker) lookupTimeout() time.Duration {
	if c.LookupTimeout > 0 {
		return c.LookupTimeout
	}
	return DefaultLookupTimeout
}

// batch remembers, for one Check, every lookup's answer by image and
// credential identities, so a cluster where 300 Deployments name one image
// asks its registry once.
type batch struct {
	checker        *Checker
	memo           *cache.Cache[image.Facts]
	lookups, asked atomic.Int64
}

// recording is the Lookup decide gets for one workload: it answers from
// the batch and notes the digest each image resolved to.
type recording struct {
	batch   *batch
	inner   resolve.Lookup
	network v1alpha1.Network

	mu      sync.Mutex
	digests map[string]string // by the image as written
}

func (r *recording) digest(img string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.digests[img]
}

func (r *recording) Resolve(ctx context.Context, req resolve.Request) (image.Facts, error) {
	if r.inner == nil {
		return image.Facts{}, &image.Error{Class: image.Unreachable, Image: req.Ref.Original, Registry: req.Ref.Registry, Reason: "no resolver"}
	}
	var cands []string // credential identities, in the kubelet's order
	var sources []string
	if req.Credentials != nil {
		cs, err := req.Credentials.Candidates(ctx, req.Ref.Repository)
		if err != nil {
			// An unreadable pull secret fails before any registry is asked.
			return r.inner.Resolve(ctx, req)
		}
		for _, c := range cs {
			cands = append(cands, c.Identity)
			sources = append(sources, c.Source)
		}
	}
	key := fmt.Sprintf("%+v\x00%s\x00%+v\x00%s", r.network, req.Ref.String(), req.Mirrors, strings.Join(cands, "\x00"))
	c := r.batch.checker
	r.batch.asked.Add(1)
	facts, _, err := r.batch.memo.Do(ctx, key, func(context.Context) (image.Facts, time.Duration, error) {
		// The memo's flight context is detached from the caller's; the
		// wait and the lookup keep to the caller's (the cycle's) instead.
		r.batch.lookups.Add(1)
		if err := c.limiter(req.Ref.Registry).Wait(ctx); err != nil {
			return image.Facts{}, 0, err
		}
		lctx, cancel := context.WithTimeout(ctx, c.lookupTimeout())
		defer cancel()
		f, err := r.inner.Resolve(lctx, req)
		return f, cache.Forever, err
	})
	if err != nil {
		return image.Facts{}, forCaller(err, req.Ref.Original, sources)
	}
	r.mu.Lock()
	r.digests[req.Ref.Original] = facts.Digest.String()
	r.mu.Unlock()
	return facts, nil
}

// forCaller is a shared failure as this caller's own lookup would have
// reported it: the image as it wrote it, and its names for the credentials
// tried (the same identities, in the same order, may be secrets of another
// namespace for the caller that asked first).
func forCaller(err error, original string, sources []string) error {
	var ie *image.Error
	if !errors.As(err, &ie) {
		return err
	}
	e := *ie
	e.Image = original
	e.Suggestions = append([]string(nil), ie.Suggestions...)
	e.Tried = append([]image.Attempt(nil), ie.Tried...)
	for i := range e.Tried {
		if i < len(sources) {
			e.Tried[i].Source = sources[i]
		}
	}
	return &e
}
