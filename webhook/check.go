package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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

// BadReviewError is a review the handlers cannot check: no object, an object
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

// Reason says how a request was answered: its images checked, or why
// not. It is the answer's message for an early allow, the V(1) log's
// reason, and the reason label of pullguard_admission_requests_total, so
// "skipped" and "checked, fine" differ everywhere (as k8s-digester's reason
// constants do). The set is closed: a label fed from it stays bounded.
type Reason string

// The reasons. Checked is the only one whose images were decided.
const (
	Checked Reason = "checked"
	// SkippedOperation: only CREATE and UPDATE carry new images.
	SkippedOperation Reason = "operation"
	// SkippedSubresource: a subresource other than ephemeralcontainers.
	SkippedSubresource Reason = "subresource"
	// SkippedNotWorkload: the object has no pod spec.
	SkippedNotWorkload Reason = "no-pod-spec"
	// SkippedNoNewImage: an UPDATE that changes no image.
	SkippedNoNewImage Reason = "no-new-image"
	// SkippedNothingToMutate: the mutating endpoint, for a kind the policy
	// neither pins, mirrors nor pins to platforms.
	SkippedNothingToMutate Reason = "nothing-to-mutate"
	// Unchecked: pullguard itself failed (its cluster view, a bug); the
	// request is allowed, as failurePolicy Ignore would allow it.
	Unchecked Reason = "unchecked"
	// BadReview: a malformed or unexpected review, answered 400.
	BadReview Reason = "bad-review"
)

// Reasons are every Reason, for the metrics' bounded label.
var Reasons = []Reason{Checked, SkippedOperation, SkippedSubresource, SkippedNotWorkload,
	SkippedNoNewImage, SkippedNothingToMutate, Unchecked, BadReview}

// skipMessages are the early allows' messages, one per skip reason.
var skipMessages = map[Reason]string{
	SkippedOperation:       "pullguard: not checked: only CREATE and UPDATE are",
	SkippedSubresource:     "pullguard: not checked: a subresource other than ephemeralcontainers",
	SkippedNotWorkload:     "pullguard: not checked: the object has no pod spec",
	SkippedNoNewImage:      "pullguard: not checked: the update changes no image",
	SkippedNothingToMutate: "pullguard: nothing to mutate: the policy pins, mirrors and adds affinity to nothing of this kind",
}

// Message is the text an early allow of this reason answers with, "" for
// reasons that are not skips.
func (r Reason) Message() string { return skipMessages[r] }

// reply is an endpoint's response and the reason it was given.
type reply struct {
	admission.Response
	reason Reason
}

// skipped allows the request unchecked, saying why.
func skipped(ctx context.Context, r Reason) *reply {
	logf.FromContext(ctx).V(1).Info("allowed unchecked", "reason", string(r))
	return &reply{Response: admission.Allowed(r.Message()), reason: r}
}

// checked is a request whose image uses were decided: what the endpoints
// turn into their answers.
type checked struct {
	obj    workload.Object
	policy *policies.Policy
	// spec is the object's pod spec, at specPointer in the raw object.
	spec        *corev1.PodSpec
	specPointer string
	decision    policies.Decision
}

// check decodes the request and decides on the image uses it adds, under
// the endpoint's budget. What it cannot or need not decide it answers at
// once (the second result): an early allow with its reason, a bad review,
// or an unchecked allow when pullguard's own cluster view failed. The
// mutating endpoint also answers early for what the policy cannot change.
func (h *Handlers) check(ctx context.Context, req admission.Request, endpoint string) (*checked, *reply) {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return nil, skipped(ctx, SkippedOperation)
	}
	if req.SubResource != "" && req.SubResource != ephemeralContainers {
		return nil, skipped(ctx, SkippedSubresource)
	}
	obj, spec, specPointer, err := decodeRequest(req)
	if err != nil {
		if errors.Is(err, workload.ErrNotWorkload) {
			return nil, skipped(ctx, SkippedNotWorkload)
		}
		return nil, &reply{Response: admission.Errored(http.StatusBadRequest, err), reason: BadReview}
	}
	if req.Namespace != "" {
		// A pod's metadata.namespace may be empty: the request's is the truth.
		obj.Namespace = req.Namespace
	}
	uses := changedUses(req, workload.Uses(spec, specPointer))
	if len(uses) == 0 {
		return nil, skipped(ctx, SkippedNoNewImage)
	}

	ctx, cancel := context.WithTimeout(ctx, h.endpointBudget(endpoint))
	defer cancel()
	p, err := h.view.Policy(ctx, req.Namespace)
	if err != nil {
		return nil, unchecked(ctx, endpoint, fmt.Errorf("reading the image policy: %w", err))
	}
	if endpoint == EndpointMutate && !p.Mutates(obj.Kind) {
		// Nothing to pin, mirror or pin to platforms: asking registries
		// here would only spend time the validating call needs.
		return nil, skipped(ctx, SkippedNothingToMutate)
	}
	var resolver resolve.Lookup
	if h.resolverFor != nil {
		resolver = h.resolverFor(p.Network())
	}
	setting, err := decide.SettingFor(ctx, h.view, req.Namespace, uses, resolver)
	if err != nil {
		return nil, unchecked(ctx, endpoint, err)
	}
	setting.Budget = h.budgets
	// A Pod's spec is immutable after creation but for its images: affinity
	// can only be added when it is created.
	setting.AffinityFixed = req.Operation == admissionv1.Update && obj.Kind == "Pod"
	d := decide.Decide(ctx, p, obj, uses, setting)

	log := logf.FromContext(ctx).V(1)
	log.Info("decided", "object", obj.String(), "policy", p.Name(), "images", len(uses),
		"findings", len(d.Findings), "rewrites", len(d.Rewrites), "allowed", d.Allowed)
	for _, f := range d.Findings {
		log.Info("finding", "container", f.Container, "image", f.Image, "class", f.Class, "action", f.Action)
	}
	return &checked{obj: obj, policy: p, spec: spec, specPointer: specPointer, decision: d}, nil
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
