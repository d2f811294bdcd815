package policies

import (
	"errors"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
)

// Result is one image use after the caller tried to resolve it.
type Result struct {
	Use workload.ImageUse
	// Ref is the parsed reference, zero if the image did not parse.
	Ref image.Reference
	// Facts is what the registry said, nil when not resolved (an error, an
	// exempt or disallowed image, or the CLI working offline).
	Facts *image.Facts
	// Err is the *image.Error of parsing (InvalidReference) or of the
	// registry; nil if resolved. Errors of other types count as Unreachable.
	Err error
	// SkippedCredentials names the pull secrets (and node config) the
	// kubelet reads for the pod but gets nothing from, with why
	// (resolve.Credentials.Skipped); the credentials tried are in the
	// error's Tried.
	SkippedCredentials []string
	// PullPolicy is the container's imagePullPolicy as the kubelet acts on
	// it (image.EffectivePullPolicy); "" counts as IfNotPresent.
	PullPolicy image.PullPolicy
	// Nodes are the nodes the use's pod may be scheduled on; empty when
	// unknown, which skips platform and node-image checks.
	Nodes []Node
	// Budget is the pull budget the image's registry last stated for the
	// credential kind the pod pulls with, nil when none is known.
	Budget *image.PullBudget
}

// Input is everything Evaluate decides on: one object's image uses.
type Input struct {
	Object  workload.Object
	Results []Result
	// AffinityFixed says the pod's node affinity can no longer change (a Pod
	// after creation: only its images may), so partial platform support is
	// warned about even where the policy would add affinity.
	AffinityFixed bool
}

// Rewrite replaces the image at Pointer. Reasons are "PinDigest" and/or "Mirror".
type Rewrite struct {
	Pointer, Container, From, To string
	Reasons                      []string
}

// The reasons of a Rewrite.
const (
	ReasonPinDigest = "PinDigest"
	ReasonMirror    = "Mirror"
)

// PlatformAffinity restricts the pod spec at SpecPointer to nodes of these
// platforms (a required node affinity on kubernetes.io/os and kubernetes.io/arch).
type PlatformAffinity struct {
	SpecPointer string
	Platforms   []v1.Platform
}

// Decision is what to do with the object.
type Decision struct {
	Findings []Finding
	// Rewrites and Affinity are only given when the object may be mutated:
	// a Pod, or any workload when the policy sets mutateWorkloads. Callers
	// apply all of them.
	Rewrites []Rewrite
	Affinity []PlatformAffinity
	// Allowed is false iff some finding's action is Deny (only in Enforce mode).
	Allowed bool
}

// Evaluate decides on the image uses of one object. It is pure: the same
// input gives the same decision, in the webhook and in the CLI.
//
// Findings come, per use and in this order, from the reference's form
// (ImplicitLatest, LatestTag), from the policy's allowedRegistries
// (RegistryNotAllowed, computed here from Ref, so callers may skip
// resolving such images; a resolution error of that class is not repeated),
// from the resolution error's class, and from platforms. A disallowed
// registry's resolution results are ignored.
func (p *Policy) Evaluate(in Input) Decision {
	e := evaluation{p: p, obj: in.Object, mutable: p.mutable(in.Object.Kind), affinityFixed: in.AffinityFixed}
	for i := range in.Results {
		e.use(&in.Results[i])
	}
	e.platforms()
	d := Decision{Findings: e.findings, Rewrites: e.rewrites, Affinity: e.affinity, Allowed: true}
	for _, f := range d.Findings {
		if f.Action == Deny {
			d.Allowed = false
		}
	}
	return d
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	p       *Policy
	obj     workload.Object
	mutable bool
	// affinityFixed: see Input.AffinityFixed.
	affinityFixed bool
	findings      []Finding
	rewrites      []Rewrite
	affinity      []PlatformAffinity
	// pods are the pod specs with images that run on only some candidates, in order of appearance.
	pods []*podPlatforms
}

type podPlatforms struct {
	specPointer string
	partial     []partialUse
	// common are the candidates every resolved image of the pod runs on.
	common []v1.Platform
}

type partialUse struct {
	r                     *Result
	candidates, supported []v1.Platform
	// failed are the verdicts of the candidates not supported.
	failed []image.PlatformVerdict
}

func (e *evaluation) add(r *Result, c image.Class, action Action, msg, fix string) {
	e.findings = append(e.findings, Finding{
		Object:    e.obj.String(),
		Container: r.Use.Container,
		Image:     r.Use.Image,
		Pointer:   r.Use.Pointer,
		Class:     c,
		Action:    action,
		Message:   msg,
		Fix:       fix,
	})
}

func (e *evaluation) use(r *Result) {
	p := e.p
	if p.Exempt(r.Ref) {
		return
	}
	var rerr *image.Error
	if r.Err != nil && !errors.As(r.Err, &rerr) {
		rerr = &image.Error{Class: image.Unreachable, Image: r.Use.Image, Registry: r.Ref.Registry, Reason: r.Err.Error(), Err: r.Err}
	}
	if r.Ref.Repository == "" || (rerr != nil && rerr.Class == image.InvalidReference) {
		msg, fix := invalidText(r, rerr)
		e.add(r, image.InvalidReference, p.Action(image.InvalidReference), msg, fix)
		return
	}
	switch r.Ref.Form {
	case image.FormImplicitLatest:
		msg, fix := latestText(r, true)
		e.add(r, image.ImplicitLatest, p.Action(image.ImplicitLatest), msg, fix)
	case image.FormLatest:
		msg, fix := latestText(r, false)
		e.add(r, image.LatestTag, p.Action(image.LatestTag), msg, fix)
	}
	if !p.RegistryAllowed(r.Ref) {
		msg, fix := notAllowedText(r, p)
		e.add(r, image.RegistryNotAllowed, p.Action(image.RegistryNotAllowed), msg, fix)
		return
	}
	if r.PullPolicy == image.PullNever {
		// The kubelet never asks the registry: the nodes decide.
		e.neverPulled(r)
		return
	}
	h, cached := e.cached(r)
	if rerr != nil {
		if cached && !credentialsRechecked(rerr.Class) {
			return
		}
		msg, fix := registryErrorText(r, rerr, e.obj)
		e.add(r, rerr.Class, p.Action(rerr.Class), msg+heldText(r, rerr.Class, h), fix)
		return
	}
	if r.Facts == nil {
		return
	}
	if b := r.Budget; b != nil && p.budget > 0 && b.Below(p.budget) {
		msg, fix := budgetText(r, b)
		e.add(r, image.PullBudgetLow, Warn, msg, fix)
	}
	if !cached && !e.brokenImage(r) {
		// A cached copy is what the kubelet starts, whatever the registry
		// holds for the tag today.
		e.checkPlatforms(r)
	}
	if e.mutable {
		if rw, ok := p.rewrite(r); ok {
			e.rewrites = append(e.rewrites, rw)
		}
	}
}

// neverPulled decides imagePullPolicy Never from the candidate nodes'
// images: the kubelet fails the container with ErrImageNeverPull on a node
// that lacks it. All of them list it: nothing to say. Some do, a node's list
// is cut at the kubelet's limits, or the registry has the image: at most a
// warning, since status.images lags what the node holds by the kubelet's
// image-list refresh (30 s) and status update, and an image that exists in
// a registry may have been pulled there meanwhile by another pod or by
// containerd itself (the sandbox image). Listed nowhere and in no registry,
// it can only be there preloaded, which shows: the class NotFound's action.
// The registry's answer is evidence only; the kubelet never asks it.
func (e *evaluation) neverPulled(r *Result) {
	h := holdersOf(r.Nodes, r.Ref.LocalName())
	if len(h.lack) == 0 {
		return
	}
	action := e.p.Action(image.NotFound)
	if len(h.have) > 0 || len(h.unknown) > 0 || r.Facts != nil {
		action = weaker(Warn, e.p.configured(image.NotFound))
	}
	msg, fix := neverText(r, h)
	e.add(r, image.NotFound, action, msg, fix)
	e.findings[len(e.findings)-1].Summary = neverSummary
}

// neverSummary is the warning line's words for imagePullPolicy Never on
// nodes that do not list the image.
const neverSummary = "pull policy Never, and not every node lists it; preload it or allow pulls"

// cached says whether the kubelet starts the image from the nodes' cache
// without pulling: imagePullPolicy IfNotPresent (the API server's default
// for any tag but latest) and every candidate node lists it. It also returns
// which nodes hold it, for messages.
func (e *evaluation) cached(r *Result) (holders, bool) {
	if len(r.Nodes) == 0 || r.PullPolicy == image.PullAlways {
		return holders{}, false
	}
	h := holdersOf(r.Nodes, r.Ref.LocalName())
	return h, len(h.have) == len(r.Nodes)
}

// credentialsRechecked are the registry answers a cached copy does not
// outweigh: with KubeletEnsureSecretPulledImages (on by default since 1.35)
// the kubelet pulls again, with the pod's own credentials, an image it
// pulled with a secret the pod does not have (k8s.io/kubernetes
// pkg/kubelet/images/pullmanager MustAttemptImagePull), and a registry
// that refuses the pod's credentials refuses that pull too.
func credentialsRechecked(c image.Class) bool {
	return c == image.Unauthorized || c == image.Forbidden
}

// checkPlatforms predicts, for each platform of the candidate nodes, what
// containerd does with the image (image.OnNode). An image that runs on none
// of them is denied at once; one that may fail for a reason the cluster does
// not show is warned about; partial support is decided per pod in
// platforms, once every image of the pod is known.
func (e *evaluation) checkPlatforms(r *Result) {
	cands := NodePlatforms(r.Nodes)
	if len(cands) == 0 {
		return
	}
	var (
		sup     []v1.Platform
		failed  []image.PlatformVerdict
		caveats []string
	)
	for _, c := range cands {
		switch v := image.OnNode(c, *r.Facts); v.Outcome {
		case image.Runs:
			sup = append(sup, c)
		case image.RunsMaybe:
			sup = append(sup, c)
			if !slices.Contains(caveats, v.Reason) {
				caveats = append(caveats, v.Reason)
			}
		default:
			failed = append(failed, v)
		}
	}
	if len(sup) == 0 {
		if !slices.ContainsFunc(failed, func(v image.PlatformVerdict) bool { return v.Outcome != image.BuildMissing }) {
			// Every node would pull a build the registry lost: the image
			// is broken, not built for the wrong platform.
			msg, fix := brokenText(r, failed)
			e.add(r, image.NotFound, e.p.Action(image.NotFound), msg, fix)
			return
		}
		msg, fix := mismatchText(r, cands, failed)
		e.add(r, image.PlatformMismatch, e.p.Action(image.PlatformMismatch), msg, fix)
		return
	}
	for _, c := range caveats {
		msg, fix := caveatText(r, c)
		e.add(r, image.PlatformMismatch, weaker(Warn, e.p.configured(image.PlatformMismatch)), msg, fix)
	}
	pod := e.pod(r)
	if pod.common == nil {
		pod.common = cands
	}
	pod.common = intersect(pod.common, sup)
	if len(sup) < len(cands) {
		pod.partial = append(pod.partial, partialUse{r: r, candidates: cands, supported: sup, failed: failed})
	}
}

// brokenImage reports a single-manifest image whose registry lacks part of
// it (image.Facts.Broken) as NotFound: its pull fails on every node. An
// index's broken entries fail only where nodes pull them, which
// checkPlatforms decides.
func (e *evaluation) brokenImage(r *Result) bool {
	if r.Facts.MediaType.IsIndex() {
		return false
	}
	b, ok := r.Facts.BrokenIn(r.Facts.Digest)
	if !ok {
		return false
	}
	msg, fix := brokenText(r, []image.PlatformVerdict{{Outcome: image.BuildMissing, Reason: b.Sentence()}})
	e.add(r, image.NotFound, e.p.Action(image.NotFound), msg, fix)
	return true
}

func (e *evaluation) pod(r *Result) *podPlatforms {
	ptr := ""
	if r.Use.Pod != nil {
		ptr = r.Use.Pod.SpecPointer
	}
	for _, pp := range e.pods {
		if pp.specPointer == ptr {
			return pp
		}
	}
	pp := &podPlatforms{specPointer: ptr}
	e.pods = append(e.pods, pp)
	return pp
}

// platforms decides partial platform support per pod: node affinity when the
// policy asks for it and the object may be mutated, else a warning (never
// stronger than the class's action). When no candidate runs every image of
// the pod, the pod fails wherever it lands: that is a PlatformMismatch.
func (e *evaluation) platforms() {
	for _, pod := range e.pods {
		if len(pod.partial) == 0 {
			continue
		}
		if len(pod.common) == 0 {
			for _, u := range pod.partial {
				msg, fix := noCommonText(u.r, u.supported)
				e.add(u.r, image.PlatformMismatch, e.p.Action(image.PlatformMismatch), msg, fix)
			}
			continue
		}
		if e.p.affinity && e.mutable && !e.affinityFixed && pod.specPointer != "" {
			e.affinity = append(e.affinity, PlatformAffinity{
				SpecPointer: pod.specPointer,
				Platforms:   append([]v1.Platform(nil), pod.common...),
			})
			continue
		}
		// Capped before the mode applies, so Audit mode keeps this a
		// warning like every other Warn.
		action := weaker(Warn, e.p.configured(image.PlatformMismatch))
		for _, u := range pod.partial {
			msg, fix := partialText(u.r, u.candidates, u.supported, u.failed)
			e.add(u.r, image.PlatformMismatch, action, msg, fix)
		}
	}
}

func intersect(a, b []v1.Platform) []v1.Platform {
	out := []v1.Platform{}
	for _, x := range a {
		for _, y := range b {
			if image.SamePlatform(x, y) {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

var actionStrength = map[Action]int{Audit: 0, Warn: 1, Deny: 2}

// weaker is the milder of two actions.
func weaker(a, b Action) Action {
	if actionStrength[b] < actionStrength[a] {
		return b
	}
	return a
}
