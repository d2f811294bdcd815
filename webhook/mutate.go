package webhook

import (
	"context"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/policies"
)

// mutation is the mutating endpoint's answer to a checked request:
// allowed, with the JSON patch operations the decision asks for (each
// addressed by a pointer into the raw object, so fields this binary does
// not know are never touched). It never denies; the validating endpoint does.
func (h *Handlers) mutation(ctx context.Context, c *checked) *reply {
	ops, err := mutations(c)
	if err != nil {
		return unchecked(ctx, EndpointMutate, err)
	}
	if len(ops) == 0 {
		return &reply{Response: admission.Allowed(""), reason: Checked}
	}
	logf.FromContext(ctx).V(1).Info("mutating", "object", c.obj.String(), "operations", len(ops))
	// The operations go as they are, their tests included: applied and
	// diffed back into a patch, the tests would be lost, and with them the
	// guarantee that a rewrite lands only on the image it was decided for
	// (the API server applies the patch to the object as it is then, and
	// refuses all of it when a test fails).
	return &reply{Response: admission.Patched("", ops...), reason: Checked}
}

// operation is one RFC 6902 operation.
type operation = jsonpatch.JsonPatchOperation

// mutations are the operations the decision asks for: each rewrite (tested
// against the image it replaces, so a patch never lands on another
// container), then the platform affinity of the pod spec when it is not
// already there (Decide gives none where the affinity can no longer change).
func mutations(c *checked) ([]operation, error) {
	var ops []operation
	for _, rw := range c.decision.Rewrites {
		ops = append(ops,
			operation{Operation: "test", Path: rw.Pointer, Value: rw.From},
			operation{Operation: "replace", Path: rw.Pointer, Value: rw.To})
	}
	for _, a := range c.decision.Affinity {
		op, ok, err := affinityOperation(c, a)
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
func affinityOperation(c *checked, a policies.PlatformAffinity) (operation, bool, error) {
	if a.SpecPointer != c.specPointer || c.spec == nil {
		return operation{}, false, fmt.Errorf("affinity for pod spec %q, but the object's is at %q", a.SpecPointer, c.specPointer)
	}
	current := c.spec.Affinity
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
