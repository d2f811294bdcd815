package webhook

import (
	"context"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/policies"
)

// mutation turns a verdict into the mutating endpoint's response: allowed,
// with the JSON patch operations the decision asks for (each addressed by a
// pointer into the raw object, so fields this binary does not know are
// never touched). It never denies; the validating endpoint does.
func (h *Handlers) mutation(ctx context.Context, v verdict) admission.Response {
	switch {
	case v.bad != nil:
		return badReview(v.bad)
	case v.failed != nil:
		return unchecked(ctx, EndpointMutate, v.failed)
	case v.skipped != "":
		logf.FromContext(ctx).V(1).Info("allowed unchecked", "reason", v.skipped)
		return admission.Allowed(v.skipped)
	}
	ops, err := mutations(v)
	if err != nil {
		return unchecked(ctx, EndpointMutate, err)
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	logf.FromContext(ctx).V(1).Info("mutating", "object", v.obj.String(), "operations", len(ops))
	// The operations go as they are, their tests included: applied and
	// diffed back into a patch, the tests would be lost, and with them the
	// guarantee that a rewrite lands only on the image it was decided for
	// (the API server applies the patch to the object as it is then, and
	// refuses all of it when a test fails).
	return admission.Patched("", ops...)
}

// operation is one RFC 6902 operation.
type operation = jsonpatch.JsonPatchOperation

// mutations are the operations the decision asks for: each rewrite (tested
// against the image it replaces, so a patch never lands on another
// container), then the platform affinity of the pod spec when it is not
// already there (Decide gives none where the affinity can no longer change).
func mutations(v verdict) ([]operation, error) {
	var ops []operation
	for _, rw := range v.decision.Rewrites {
		ops = append(ops,
			operation{Operation: "test", Path: rw.Pointer, Value: rw.From},
			operation{Operation: "replace", Path: rw.Pointer, Value: rw.To})
	}
	for _, a := range v.decision.Affinity {
		op, ok, err := affinityOperation(v, a)
		if err != nil {
			return nil, err
		}
		if ok {
			ops = append(ops, op)
		}
	}
	return ops, nil
}

// affinityOperation adds the platforms' requirements to the pod spec's
// required node affinity, at the shallowest level that exists already so
// other affinity fields are kept.
func affinityOperation(v verdict, a policies.PlatformAffinity) (operation, bool, error) {
	if a.SpecPointer != v.specPointer || v.spec == nil {
		return operation{}, false, fmt.Errorf("affinity for pod spec %q, but the object's is at %q", a.SpecPointer, v.specPointer)
	}
	current := v.spec.Affinity
	sel, changed := requirePlatforms(nodeSelectorOf(current), a.Platforms)
	if !changed {
		return operation{}, false, nil
	}
	required := map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": sel}
	switch {
	case current == nil:
		return operation{Operation: "add", Path: a.SpecPointer + "/affinity", Value: map[string]any{"nodeAffinity": required}}, true, nil
	case current.NodeAffinity == nil:
		return operation{Operation: "add", Path: a.SpecPointer + "/affinity/nodeAffinity", Value: required}, true, nil
	default:
		return operation{Operation: "add", Path: a.SpecPointer + "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", Value: sel}, true, nil
	}
}
