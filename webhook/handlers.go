package webhook

import (
	"context"
	"fmt"
	"net/http"
	"time"

	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// BudgetMargin is kept free below the webhook timeout for decoding, the
// answer and the network, so the answer (Unreachable for what is still
// unknown, decided by the policy) reaches the API server before it gives up
// on the webhook and applies the failure policy instead.
const BudgetMargin = 2 * time.Second

// DefaultBudget is each request's time for resolving images: BudgetMargin
// below DefaultTimeoutSeconds.
const DefaultBudget = time.Duration(DefaultTimeoutSeconds)*time.Second - BudgetMargin

// The endpoint names given to Recorder.Admission.
const (
	EndpointMutate   = "mutate"
	EndpointValidate = "validate"
)

// Options configure the handlers.
type Options struct {
	// ResolverFor gives the resolver for a policy's network allowances
	// (serve keeps one resolver, with its own guarded transport and cache,
	// per distinct v1alpha1.Network). Nil, or a nil resolver, leaves images
	// unresolved: only the reference rules and allowedRegistries apply.
	ResolverFor func(v1alpha1.Network) resolve.Lookup
	// Budget is the per-request budget, below the webhook timeout; zero
	// means DefaultBudget. A request's own deadline, when sooner, wins.
	Budget time.Duration
	// Recorder receives metrics; nil records none.
	Recorder Recorder
	// PullBudgets gives the pull budget a registry last stated
	// (resolve.Budgets.Get), for the policy's pullBudgetWarningPercent;
	// nil knows none.
	PullBudgets func(host string, authenticated bool) (image.PullBudget, bool)
}

// Recorder is the metrics the handlers report (implemented by
// internal/metrics). Labels stay bounded: kinds come from the webhook rules,
// classes and actions are enums; never an image.
type Recorder interface {
	// Admission is called once per request with the object's kind, the
	// endpoint (EndpointMutate or EndpointValidate), the answer, its reason
	// (one of Reasons) and how long it took.
	Admission(kind, endpoint string, allowed bool, reason string, d time.Duration)
	// Finding is called by the validating endpoint for each finding, so a
	// finding is counted once although both endpoints check the object.
	Finding(class image.Class, action policies.Action)
}

// Handlers are pullguard's two admission endpoints over one cluster view.
// They are safe for concurrent use.
type Handlers struct {
	view        ClusterView
	resolverFor func(v1alpha1.Network) resolve.Lookup
	budgets     func(host string, authenticated bool) (image.PullBudget, bool)
	budget      time.Duration
	recorder    Recorder
}

// NewHandlers returns the handlers for view.
func NewHandlers(view ClusterView, opts Options) *Handlers {
	budget := opts.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	return &Handlers{view: view, resolverFor: opts.ResolverFor, budgets: opts.PullBudgets, budget: budget, recorder: opts.Recorder}
}

// Mutator is the mutating endpoint: it pins digests, rewrites mirrors and
// adds platform node affinity as the policy says, and never denies.
func (h *Handlers) Mutator() admission.Handler {
	return h.handler(EndpointMutate, h.mutation)
}

// Validator is the validating endpoint: it denies what the policy denies,
// warns about what it warns about and records audit findings.
func (h *Handlers) Validator() admission.Handler {
	return h.handler(EndpointValidate, h.validation)
}

// Register serves the handlers on srv at MutatePath and ValidatePath,
// behind the guard that answers reviews controller-runtime would answer
// wrongly (too large, or no review at all).
func (h *Handlers) Register(srv ctrlwebhook.Server) {
	srv.Register(MutatePath, h.HTTPHandler(EndpointMutate))
	srv.Register(ValidatePath, h.HTTPHandler(EndpointValidate))
}

// HTTPHandler is the endpoint's HTTP handler as Register serves it.
func (h *Handlers) HTTPHandler(endpoint string) http.Handler {
	if endpoint == EndpointMutate {
		return reviewGuard{next: &admission.Webhook{Handler: h.Mutator()}}
	}
	return reviewGuard{next: &admission.Webhook{Handler: h.Validator()}, deny: true}
}

// handler is the one shape of both endpoints: check the request, then
// turn what was decided into the endpoint's answer (respond). A panic is
// answered, never propagated: the handlers may be called without
// controller-runtime's own recovery, and an answer beats a dropped
// connection.
func (h *Handlers) handler(endpoint string, respond func(context.Context, *checked) *reply) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) (resp admission.Response) {
		start := time.Now()
		reason := Unchecked
		defer func() {
			if r := recover(); r != nil {
				a := unchecked(ctx, endpoint, fmt.Errorf("internal error: %v", r))
				resp, reason = a.Response, a.reason
			}
			h.recordAdmission(req, endpoint, resp, reason, time.Since(start))
		}()
		c, a := h.check(ctx, req, endpoint)
		if a == nil {
			a = respond(ctx, c)
		}
		reason = a.reason
		return a.Response
	})
}

func (h *Handlers) recordAdmission(req admission.Request, endpoint string, resp admission.Response, reason Reason, d time.Duration) {
	if h.recorder == nil {
		return
	}
	kind := req.Kind.Kind
	if kind == "" {
		kind = "unknown"
	}
	h.recorder.Admission(kind, endpoint, resp.Allowed, string(reason), d)
}
