package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// ephemeralContainers is the Pod subresource `kubectl debug` writes; every
// other subresource (status, binding, eviction…) carries no new image.
const ephemeralContainers = "ephemeralcontainers"

// BadReviewError is a review the handlers cannot judge: no object, an object
// that is not JSON, or an object of another kind than the request names. It
// is answered with 400 Bad Request.
type BadReviewError struct {
	Reason string
	Err    error
}

func (e *BadReviewError) Error() string {
	if e.Err == nil {
		return "bad admission review: " + e.Reason
	}
	return "bad admission review: " + e.Reason + ": " + e.Err.Error()
}

func (e *BadReviewError) Unwrap() error { return e.Err }

// Why a request is allowed without being judged: the message of the
// early allow, so that in logs and answers "skipped" and "checked, fine"
// differ (as k8s-digester's reason constants do).
const (
	SkippedOperation       = "pullguard: not checked: only CREATE and UPDATE are"
	SkippedSubresource     = "pullguard: not checked: a subresource other than ephemeralcontainers"
	SkippedNotWorkload     = "pullguard: not checked: the object has no pod spec"
	SkippedNoNewImage      = "pullguard: not checked: the update changes no image"
	SkippedNothingToMutate = "pullguard: nothing to mutate: the policy pins, mirrors and adds affinity to nothing of this kind"
)

// verdict is what one request came to, before it becomes a response.
type verdict struct {
	// bad is a malformed or unexpected review.
	bad error
	// failed is a failure of pullguard itself (its cluster view); the
	// request is allowed unchecked, as failurePolicy Ignore would allow it
	// if pullguard were down.
	failed error
	// skipped says why there was nothing to judge (an early allow); ""
	// when the request was judged.
	skipped string

	raw         []byte
	obj         workload.Object
	policy      *policies.Policy
	spec        *corev1.PodSpec
	specPointer string
	decision    policies.Decision
}

// judge decodes the request, allows early what carries no new image (and,
// for the mutating endpoint, what the policy cannot change), and decides on
// the rest under the endpoint's budget.
func (h *Handlers) judge(ctx context.Context, req admission.Request, endpoint string) verdict {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return verdict{skipped: SkippedOperation}
	}
	if req.SubResource != "" && req.SubResource != ephemeralContainers {
		return verdict{skipped: SkippedSubresource}
	}
	obj, spec, specPointer, err := decodeRequest(req)
	if err != nil {
		if errors.Is(err, workload.ErrNotWorkload) {
			return verdict{skipped: SkippedNotWorkload}
		}
		return verdict{bad: err}
	}
	if req.Namespace != "" {
		// A pod's metadata.namespace may be empty: the request's is the truth.
		obj.Namespace = req.Namespace
	}
	uses := changedUses(req, workload.Uses(spec, specPointer))
	if len(uses) == 0 {
		return verdict{skipped: SkippedNoNewImage}
	}

	ctx, cancel := context.WithTimeout(ctx, h.endpointBudget(endpoint))
	defer cancel()
	p, err := h.view.Policy(ctx, req.Namespace)
	if err != nil {
		return verdict{failed: fmt.Errorf("reading the image policy: %w", err)}
	}
	if endpoint == EndpointMutate && !p.Mutates(obj.Kind) {
		// Nothing to pin, mirror or pin to platforms: asking registries
		// here would only spend time the validating call needs.
		return verdict{skipped: SkippedNothingToMutate}
	}
	env, err := h.env(ctx, req.Namespace, p, uses)
	if err != nil {
		return verdict{failed: err}
	}
	// A Pod's spec is immutable after creation but for its images: affinity
	// can only be added when it is created.
	env.AffinityFixed = req.Operation == admissionv1.Update && obj.Kind == "Pod"
	d := decide.Decide(ctx, p, obj, uses, env)

	log := logf.FromContext(ctx).V(1)
	log.Info("decided", "object", obj.String(), "policy", p.Name(), "images", len(uses),
		"findings", len(d.Findings), "rewrites", len(d.Rewrites), "allowed", d.Allowed)
	for _, f := range d.Findings {
		log.Info("finding", "container", f.Container, "image", f.Image, "class", f.Class, "action", f.Action)
	}
	return verdict{
		raw: req.Object.Raw, obj: obj, policy: p,
		spec: spec, specPointer: specPointer, decision: d,
	}
}

// endpointBudget is the time an endpoint may spend resolving. The API
// server calls the mutating webhook and then the validating one, each with
// its own timeout, and a user waits for both: mutation is an optimisation
// and gets half the budget; lookups it leaves in flight keep going, and the
// validating call joins them (the resolver shares in-flight lookups) instead
// of starting over, so a hanging registry costs about one budget in all.
func (h *Handlers) endpointBudget(endpoint string) time.Duration {
	if endpoint == EndpointMutate {
		return h.budget / 2
	}
	return h.budget
}

// decodeRequest decodes the request's object. An error wrapping
// workload.ErrNotWorkload means a kind without a pod spec, to be allowed;
// any other error is a *BadReviewError.
func decodeRequest(req admission.Request) (workload.Object, *corev1.PodSpec, string, error) {
	if len(req.Object.Raw) == 0 {
		return workload.Object{}, nil, "", &BadReviewError{Reason: "the request carries no object"}
	}
	o, spec, specPointer, err := workload.Decode(req.Object.Raw)
	if err != nil && !errors.Is(err, workload.ErrNotWorkload) {
		return o, nil, "", &BadReviewError{Reason: "decoding the object", Err: err}
	}
	if want := req.Kind; want.Kind != "" {
		got := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		if got != schema.GroupVersionKind(want) {
			return o, nil, "", &BadReviewError{Reason: fmt.Sprintf("the object is %q but the request is for %q",
				kindString(got), kindString(schema.GroupVersionKind(want)))}
		}
	}
	if err != nil {
		return o, nil, "", err
	}
	return o, spec, specPointer, nil
}

func kindString(gvk schema.GroupVersionKind) string {
	if gvk.Kind == "" {
		return "an object without kind"
	}
	return gvk.GroupVersion().String() + ", Kind=" + gvk.Kind
}

// changedUses are the uses an UPDATE introduces: an image that was already
// at the same place in the old object is left alone, so a scale or a label
// change never fails on an image that broke since it was admitted.
func changedUses(req admission.Request, uses []workload.ImageUse) []workload.ImageUse {
	if req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return uses
	}
	_, old, err := workload.Images(req.OldObject.Raw)
	if err != nil {
		// The API server stored it, so this is unexpected: judging every
		// image is the safe reading.
		return uses
	}
	before := make(map[[2]string]bool, len(old))
	for _, u := range old {
		before[[2]string{u.Pointer, u.Image}] = true
	}
	changed := uses[:0:0]
	for _, u := range uses {
		if !before[[2]string{u.Pointer, u.Image}] {
			changed = append(changed, u)
		}
	}
	return changed
}

// env builds decide's Env from the cluster view (decide.EnvFor), with the
// resolver for the policy's network allowances.
func (h *Handlers) env(ctx context.Context, namespace string, p *policies.Policy, uses []workload.ImageUse) (decide.Env, error) {
	var lookup resolve.Lookup
	if h.lookups != nil {
		lookup = h.lookups(p.Network())
	}
	env, err := decide.EnvFor(ctx, h.view, namespace, uses, lookup)
	env.Budget = h.budgets
	return env, err
}
