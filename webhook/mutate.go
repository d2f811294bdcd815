package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/policies"
)

// mutation turns a verdict into the mutating endpoint's response: allowed,
// with a JSON patch computed from the raw bytes (so fields this binary does
// not know survive). It never denies; the validating endpoint does.
func (h *Handlers) mutation(ctx context.Context, v verdict) admission.Response {
	switch {
	case v.bad != nil:
		return badReview(v.bad)
	case v.failed != nil:
		return unchecked(ctx, EndpointMutate, v.failed)
	case !v.judged:
		return admission.Allowed("")
	}
	ops, err := mutations(v)
	if err != nil {
		return unchecked(ctx, EndpointMutate, err)
	}
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	mutated, err := applyPatch(v.raw, ops)
	if err != nil {
		return unchecked(ctx, EndpointMutate, err)
	}
	logf.FromContext(ctx).V(1).Info("mutating", "object", v.obj.String(), "operations", len(ops))
	return admission.PatchResponseFromRaw(v.raw, mutated)
}

// operation is one RFC 6902 operation.
type operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// mutations are the operations the decision asks for: each rewrite (tested
// against the image it replaces, so a patch never lands on another
// container), then the platform affinity of the pod spec when it is not
// already there (Decide gives none where the affinity can no longer change).
func mutations(v verdict) ([]operation, error) {
	var ops []operation
	for _, rw := range v.decision.Rewrites {
		ops = append(ops,
			operation{Op: "test", Path: rw.Pointer, Value: rw.From},
			operation{Op: "replace", Path: rw.Pointer, Value: rw.To})
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
		return operation{Op: "add", Path: a.SpecPointer + "/affinity", Value: map[string]any{"nodeAffinity": required}}, true, nil
	case current.NodeAffinity == nil:
		return operation{Op: "add", Path: a.SpecPointer + "/affinity/nodeAffinity", Value: required}, true, nil
	default:
		return operation{Op: "add", Path: a.SpecPointer + "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", Value: sel}, true, nil
	}
}

// applyPatch applies ops to raw with evanphx/json-patch.
func applyPatch(raw []byte, ops []operation) ([]byte, error) {
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding the patch: %w", err)
	}
	patch, err := jsonpatch.DecodePatch(b)
	if err != nil {
		return nil, fmt.Errorf("decoding the patch: %w", err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		return nil, fmt.Errorf("applying the patch: %w", err)
	}
	return out, nil
}
