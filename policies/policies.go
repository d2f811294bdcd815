// Package policies turns an ImagePolicy into a compiled Policy and decides,
// without any I/O, what pullguard does with the images of one object: which
// findings deny, warn or are only recorded, which references are rewritten to
// digests or mirrors, and which pods get node affinity for their platforms.
package policies

import (
	"regexp"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Action is what a finding does to the request: Deny, Warn or Audit.
type Action = v1alpha1.Action

// The actions, re-exported so callers need not import the API package.
const (
	Deny  = v1alpha1.ActionDeny
	Warn  = v1alpha1.ActionWarn
	Audit = v1alpha1.ActionAudit
)

// BuiltInName is the Name of the policy used when no ImagePolicy applies.
const BuiltInName = "(built-in)"

// Policy is a validated ImagePolicy with its globs and selector compiled, ready
// to evaluate many requests concurrently. It is never modified after Compile.
type Policy struct {
	name     string
	priority int32
	// selective: the namespaceSelector is not empty (see Precedes).
	selective bool
	mode      v1alpha1.Mode
	actions   map[image.Class]Action
	selector  labels.Selector
	exempt    []*regexp.Regexp
	allowed   []*regexp.Regexp
	// allowedText lists the allowed patterns for messages.
	allowedText string
	pin         v1alpha1.PinDigests
	mutate      bool
	mirrors     []image.Mirror
	affinity    bool
	depth       image.Depth
	network     v1alpha1.Network
	// budget is the pull budget percentage below which admission warns.
	budget int
}

// builtInActions are the actions of the built-in default (DESIGN.md): what
// would fail to pull is denied; what may be transient, or only risky, warns.
func builtInActions() map[image.Class]Action {
	return map[image.Class]Action{
		image.InvalidReference:   Deny,
		image.ImplicitLatest:     Deny,
		image.LatestTag:          Warn,
		image.NotFound:           Deny,
		image.Unauthorized:       Deny,
		image.Forbidden:          Deny,
		image.RateLimited:        Warn,
		image.Unreachable:        Warn,
		image.PlatformMismatch:   Deny,
		image.RegistryNotAllowed: Deny,
		image.AddressBlocked:     Deny,
	}
}

// Default is the policy used when no ImagePolicy applies: the built-in
// actions, all registries allowed, nothing exempt, no pinning, no mirrors.
func Default() *Policy {
	return &Policy{
		name:     BuiltInName,
		mode:     v1alpha1.ModeEnforce,
		actions:  builtInActions(),
		selector: labels.Everything(),
		pin:      v1alpha1.PinOff,
		budget:   v1alpha1.DefaultPullBudgetWarningPercent,
	}
}

// Name is the ImagePolicy's name, or BuiltInName.
func (p *Policy) Name() string { return p.name }

// Mode is Enforce or Audit.
func (p *Policy) Mode() v1alpha1.Mode { return p.mode }

// Action is the action Evaluate takes for a finding of class c, with the mode
// applied: in Audit mode Deny becomes Audit. A class this package does not
// know (one added to resolve later) warns rather than failing silently or
// blocking a cluster.
func (p *Policy) Action(c image.Class) Action {
	a := p.configured(c)
	if a == Deny && p.mode == v1alpha1.ModeAudit {
		return Audit
	}
	return a
}

// configured is the class's action before the mode applies.
func (p *Policy) configured(c image.Class) Action {
	if a, ok := p.actions[c]; ok {
		return a
	}
	return Warn
}

// PinDigests is how resolved tags are rewritten to digests.
func (p *Policy) PinDigests() v1alpha1.PinDigests { return p.pin }

// MutateWorkloads says whether workload templates may be rewritten; Pods always may.
func (p *Policy) MutateWorkloads() bool { return p.mutate }

// Verify is how much of each image lookups make sure the registry has.
func (p *Policy) Verify() image.Depth { return p.depth }

// VerifyingTo is p, but with lookups verifying to depth d: `pullguard
// diagnose` looks further than admission, since a layer the registry lost
// is one reason a pod is stuck. p is not changed.
func (p *Policy) VerifyingTo(d image.Depth) *Policy {
	q := *p
	q.depth = d
	return &q
}

// PlatformAffinity says whether partial platform support becomes node affinity.
func (p *Policy) PlatformAffinity() bool { return p.affinity }

// Mutates says whether Evaluate can ask to change an object of kind at all:
// it must be mutable (a Pod, or any workload with mutateWorkloads) and the
// policy must pin digests, rewrite mirrors or add platform affinity. The
// mutating webhook skips registry lookups when it cannot.
func (p *Policy) Mutates(kind string) bool {
	return p.mutable(kind) && ((p.pin != v1alpha1.PinOff && p.pin != "") || len(p.mirrors) > 0 || p.affinity)
}

// mutable says whether an object of kind may be rewritten: Pods always,
// workload templates only when the policy asks (GitOps tools fight template
// mutations).
func (p *Policy) mutable(kind string) bool { return kind == "Pod" || p.mutate }

// Mirrors are the mirror rules for the resolver, in the policy's order.
func (p *Policy) Mirrors() []image.Mirror {
	if len(p.mirrors) == 0 {
		return nil
	}
	return append([]image.Mirror(nil), p.mirrors...)
}

// Network is what the address guard allows (a copy).
func (p *Policy) Network() v1alpha1.Network {
	return *p.network.DeepCopy()
}

// AppliesTo reports whether the policy selects a namespace with these labels.
// An absent or empty namespaceSelector selects every namespace. For
// cluster-scoped objects callers pass nil labels, which only an empty
// selector (or one of only NotIn/DoesNotExist terms) selects.
func (p *Policy) AppliesTo(namespaceLabels map[string]string) bool {
	return p.selector.Matches(labels.Set(namespaceLabels))
}
