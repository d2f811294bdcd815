// Package decide is the one path from "these image uses of this object" to a
// policy decision: parse each reference, skip what the policy exempts, refuse
// registries it does not allow, resolve the rest in parallel, then let the
// policy evaluate. The webhook and `pullguard check` both call it, so the same
// input gets the same answer at either door.
package decide

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
	// Credentials gives the credentials the kubelet would use for a pod
	// (its pull secrets, its service account's, the nodes'). Nil or a nil
	// result means anonymous.
	Credentials func(pod *workload.PodContext) resolve.Credentials
	// Platforms gives the platforms of the nodes a pod may land on (before
	// the pod's own os/arch selectors and affinity, which Decide applies).
	// Nil or an empty result skips platform checks.
	Platforms func(pod *workload.PodContext) []v1.Platform
	// AffinityFixed says the pods' node affinity can no longer change (a Pod
	// after creation), so partial platform support is warned about rather
	// than pinned with affinity.
	AffinityFixed bool
}

// NodePlatforms is an Env.Platforms for a fixed set of node platforms, as
// `pullguard check --platform` gives.
func NodePlatforms(platforms []v1.Platform) func(*workload.PodContext) []v1.Platform {
	return func(*workload.PodContext) []v1.Platform { return platforms }
}

// Decide returns the policy's decision on the image uses of obj. It never
// fails: what cannot be resolved before ctx ends is a finding of its own
// (Unreachable), decided by the policy.
func Decide(ctx context.Context, p *policies.Policy, obj workload.Object, uses []workload.ImageUse, env Env) policies.Decision {
	results := make([]policies.Result, len(uses))
	var pending []int                                      // indexes of results to resolve
	candidates := map[*workload.PodContext][]v1.Platform{} // the uses of one pod share them
	for i, use := range uses {
		r := policies.Result{Use: use}
		if env.Platforms != nil {
			c, ok := candidates[use.Pod]
			if !ok {
				c = policies.CandidatePlatforms(env.Platforms(use.Pod), use.Pod)
				candidates[use.Pod] = c
			}
			r.Candidates = c
		}
		ref, err := image.Parse(use.Image)
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
			results[i].CredentialSources = creds.Sources(results[i].Ref.Registry)
		}
		reqs[j] = resolve.Request{Ref: results[i].Ref, Credentials: creds, Mirrors: p.Mirrors()}
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
	}
}
