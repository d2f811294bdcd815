// Package decide is the one path from "these image uses of this object" to a
// policy decision: parse each reference, resolve in parallel those the
// policy reads registries' answers for (Policy.Resolves: not exempt, from an
// allowed registry), then let the policy evaluate. Every front door (the
// webhook, background verification, `pullguard check`, `pullguard
// diagnose`) builds its Setting with SettingFor and calls Decide, so the
// same input gets the same answer at each.
//
// The stages of one admission, each with its own verb: the webhook checks
// a request (decodes it, allows early what carries no new image), Decide
// resolves its images, the policy evaluates the results into a Decision,
// and the endpoint turns that into its answer.
package decide

import (
	"context"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Setting is what Decide knows of an object beyond the object itself:
// the resolver that asks registries, what the cluster says about each of
// its pods, the pull budgets registries stated, and whether the pods' node
// affinity may still change. SettingFor builds it from a Cluster.
type Setting struct {
	// Lookup resolves references; a *resolve.Resolver shared across calls so
	// its cache serves them all. Nil leaves every image unresolved.
	Lookup resolve.Lookup
	// Pods are the cluster's facts about each pod spec of the uses (keyed by
	// ImageUse.Pod). A pod missing here pulls anonymously and has no known
	// candidate nodes.
	Pods map[*workload.PodContext]Pod
	// Budget gives the pull budget a registry host last stated for a
	// credential kind (resolve.Budgets.Get); nil knows none.
	Budget func(host string, authenticated bool) (image.PullBudget, bool)
	// AffinityFixed says the pods' node affinity can no longer change (a Pod
	// after creation), so partial platform support is warned about rather
	// than pinned with affinity.
	AffinityFixed bool
}

// Pod is what the cluster says about one pod spec.
type Pod struct {
	// Credentials are those the kubelet would try for the pod (its pull
	// secrets or its service account's, then the nodes'); nil means
	// anonymous.
	Credentials resolve.Credentials
	// Nodes are the nodes the pod may be scheduled on, with their
	// platforms and images (cluster.CandidateNodes); empty skips platform
	// and node-image checks.
	Nodes []policies.Node
}

// Decide returns the policy's decision on the image uses of obj. It never
// fails: what cannot be resolved before ctx ends is a finding of its own
// (Unreachable), decided by the policy.
func Decide(ctx context.Context, p *policies.Policy, obj workload.Object, uses []workload.ImageUse, s Setting) policies.Decision {
	results := make([]policies.Result, len(uses))
	var pending []int // indexes of results to resolve
	for i, use := range uses {
		ref, err := image.Parse(use.Image)
		r := policies.Result{Use: use, Nodes: s.Pods[use.Pod].Nodes,
			PullPolicy: image.EffectivePullPolicy(string(use.PullPolicy), ref)}
		if err != nil {
			r.Err = err
		} else {
			r.Ref = ref
			if p.Resolves(ref) {
				pending = append(pending, i)
			}
		}
		results[i] = r
	}
	resolveAll(ctx, p, s, results, pending)
	return p.Evaluate(policies.Input{Object: obj, Results: results, AffinityFixed: s.AffinityFixed})
}

// resolveAll resolves results[pending] in parallel; the lookups of one object
// share its deadline.
func resolveAll(ctx context.Context, p *policies.Policy, s Setting, results []policies.Result, pending []int) {
	if len(pending) == 0 || s.Lookup == nil {
		return
	}
	reqs := make([]resolve.Request, len(pending))
	for j, i := range pending {
		creds := s.Pods[results[i].Use.Pod].Credentials
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
	for j, out := range resolve.ResolveAll(ctx, s.Lookup, reqs) {
		i := pending[j]
		if out.Err != nil {
			// ResolveAll has classified it already.
			results[i].Err = out.Err
			continue
		}
		facts := out.Facts
		results[i].Facts = &facts
		results[i].Budget = budgetOf(s, reqs[j], facts)
	}
}

// budgetOf is the pull budget the registry that answered (a mirror's when
// one did) last stated for the credential kind the answer came with.
func budgetOf(s Setting, req resolve.Request, facts image.Facts) *image.PullBudget {
	if s.Budget == nil {
		return nil
	}
	host := req.Ref.Registry
	if r, err := image.Parse(facts.ResolvedRepository); err == nil && r.Registry != "" {
		host = r.Registry
	}
	b, ok := s.Budget(host, facts.Authenticated)
	if !ok {
		return nil
	}
	return &b
}
