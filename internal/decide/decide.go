// Package decide is the one path from "these image uses of this object" to a
// policy decision: parse each reference, skip what the policy exempts, refuse
// registries it does not allow, resolve the rest in parallel, then let the
// policy evaluate. The webhook and `pullguard check` both call it, so the same
// input gets the same answer at either door.
package decide

import (
	"context"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Env is what the caller knows about where the object will run.
type Env struct {
	// Lookup resolves references; a *resolve.Resolver shared across calls so
	// its cache serves them all.
	Lookup resolve.Lookup
	// Credentials gives the credentials the kubelet would try for a pod
	// (its pull secrets or its service account's, then the nodes'). Nil or
	// a nil result means anonymous.
	Credentials func(pod *workload.PodContext) resolve.Credentials
	// Nodes gives the nodes a pod may be scheduled on, with their
	// platforms and images (cluster.CandidateNodes). Nil or an empty result
	// skips platform and node-image checks.
	Nodes func(pod *workload.PodContext) []policies.Node
	// Budget gives the pull budget a registry host last stated for a
	// credential kind (resolve.Budgets.Get); nil knows none.
	Budget func(host string, authenticated bool) (image.PullBudget, bool)
	// AffinityFixed says the pods' node affinity can no longer change (a Pod
	// after creation), so partial platform support is warned about rather
	// than pinned with affinity.
	AffinityFixed bool
}

// Decide returns the policy's decision on the image uses of obj. It never
// fails: what cannot be resolved before ctx ends is a finding of its own
// (Unreachable), decided by the policy.
func Decide(ctx context.Context, p *policies.Policy, obj workload.Object, uses []workload.ImageUse, env Env) policies.Decision {
	results := make([]policies.Result, len(uses))
	var pending []int                                   // indexes of results to resolve
	nodes := map[*workload.PodContext][]policies.Node{} // the uses of one pod share them
	for i, use := range uses {
		r := policies.Result{Use: use}
		if env.Nodes != nil {
			n, ok := nodes[use.Pod]
			if !ok {
				n = env.Nodes(use.Pod)
				nodes[use.Pod] = n
			}
			r.Nodes = n
		}
		ref, err := image.Parse(use.Image)
		r.PullPolicy = image.EffectivePullPolicy(string(use.PullPolicy), ref)
		switch {
		case err != nil:
			r.Err = err
		case p.Exempt(ref):
			r.Ref, r.Exempt = ref, true
		case !p.RegistryAllowed(ref):
			// Evaluate reports RegistryNotAllowed from the reference; asking
			// a registry the policy forbids would only leak the request.
			r.Ref = ref
		default:
			r.Ref = ref
			pending = append(pending, i)
		}
		results[i] = r
	}
	resolveAll(ctx, p, env, results, pending)
	return p.Evaluate(policies.Input{Object: obj, Results: results, AffinityFixed: env.AffinityFixed})
}

// resolveAll resolves results[pending] in parallel; the lookups of one object
// share its deadline.
func resolveAll(ctx context.Context, p *policies.Policy, env Env, results []policies.Result, pending []int) {
	if len(pending) == 0 || env.Lookup == nil {
		return
	}
	reqs := make([]resolve.Request, len(pending))
	for j, i := range pending {
		var creds resolve.Credentials
		if env.Credentials != nil {
			creds = env.Credentials(results[i].Use.Pod)
		}
		if creds != nil {
			results[i].SkippedCredentials = creds.Skipped()
		}
		reqs[j] = resolve.Request{
			Ref:         results[i].Ref,
			Credentials: creds,
			Mirrors:     p.Mirrors(),
			Platforms:   policies.NodePlatforms(results[i].Nodes),
			Depth:       p.Verify(),
		}
	}
	for j, out := range resolve.ResolveAll(ctx, env.Lookup, reqs) {
		i := pending[j]
		if out.Err != nil {
			// ResolveAll has classified it already.
			results[i].Err = out.Err
			continue
		}
		facts := out.Facts
		results[i].Facts = &facts
		results[i].Budget = budgetOf(env, reqs[j], facts)
	}
}

// budgetOf is the pull budget the registry that answered (a mirror's when
// one did) last stated for the credential kind the answer came with.
func budgetOf(env Env, req resolve.Request, facts image.Facts) *image.PullBudget {
	if env.Budget == nil {
		return nil
	}
	host := req.Ref.Registry
	if r, err := image.Parse(facts.ResolvedRepository); err == nil && r.Registry != "" {
		host = r.Registry
	}
	b, ok := env.Budget(host, facts.Authenticated)
	if !ok {
		return nil
	}
	return &b
}
