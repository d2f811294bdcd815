// Package policystatus keeps each ImagePolicy's status in step with what the
// webhook makes of it, so `kubectl get imagepolicies` answers "does my
// policy do anything?" instead of leaving the operator to guess: Ready says
// whether it compiles (its field errors in the message), InUse which
// namespaces it decides, Shadowed which policies decide the other
// namespaces it selects (policies.Precedes is the rule). An invalid or
// shadowed policy also gets a Warning Event, once per change.
//
// Only the elected leader runs it (controllers need leader election by
// default in controller-runtime); the webhooks serve on every replica.
package policystatus

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "imagepolicy-status"

// The Events the reconciler records on an ImagePolicy.
const (
	EventInvalid  = "InvalidPolicy"
	EventShadowed = "Shadowed"
	// eventAction is the events.k8s.io action of both.
	eventAction = "SelectPolicy"
)

// conflictRetry is how soon a status write that lost a conflict is tried
// again, by then with the cache's newer object.
const conflictRetry = 200 * time.Millisecond

// Reconciler writes the status of ImagePolicy objects through the status
// subresource.
type Reconciler struct {
	// Client reads ImagePolicies and Namespaces (the manager's cached
	// client) and writes the policies' status.
	Client client.Client
	// Recorder records the Events; nil records none.
	Recorder events.EventRecorder
}

// SetupWithManager registers the reconciler with mgr. One policy's status
// depends on every policy (which precedes it) and on every namespace's
// labels, so any change to either reconciles every policy. The
// reconciler's own status writes find nothing to change, and an edit of
// the status by someone else is put right.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(r.allPolicies)
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		Watches(&v1alpha1.ImagePolicy{}, all).
		// Namespaces matter only by their labels (and by existing).
		Watches(&corev1.Namespace{}, all, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
}

func (r *Reconciler) allPolicies(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1alpha1.ImagePolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "list image policies to reconcile")
		return nil
	}
	out := make([]reconcile.Request, len(list.Items))
	for i := range list.Items {
		out[i] = reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}}
	}
	return out
}

// Reconcile writes the policy's Ready, InUse and Shadowed conditions and
// its namespaces when any of them changed, and then records an Event if
// it became invalid or shadowed (or by other policies). A conflict is
// retried quietly with the newer object.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj v1alpha1.ImagePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		// Deleted since the event: nothing to report on.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	usage, compileErr, err := r.usage(ctx, &obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := obj.Status.DeepCopy()
	inUse, shadowed := policies.UsageConditions(&obj, usage)
	for _, c := range []metav1.Condition{policies.ReadyCondition(&obj, compileErr), inUse, shadowed} {
		meta.SetStatusCondition(&obj.Status.Conditions, c)
	}
	policies.SetUsage(&obj.Status, usage)
	if equality.Semantic.DeepEqual(before, &obj.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Update(ctx, &obj); err != nil {
		if apierrors.IsConflict(err) {
			// The cache is behind (often our own last write): try again
			// with the newer object, without an error in the log.
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, fmt.Errorf("write status of image policy %q: %w", obj.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("policy status written",
		"ready", meta.IsStatusConditionTrue(obj.Status.Conditions, v1alpha1.ConditionReady),
		"namespaces", obj.Status.NamespaceCount, "shadowedBy", len(obj.Status.ShadowedBy),
		"observedGeneration", obj.Generation)
	r.recordEvents(before, &obj)
	return ctrl.Result{}, nil
}

// usage is where obj is in use among the cluster's namespaces, given every
// valid policy; nil with Compile's error for an invalid one.
func (r *Reconciler) usage(ctx context.Context, obj *v1alpha1.ImagePolicy) (*policies.Usage, error, error) {
	self, compileErr := policies.Compile(obj)
	if compileErr != nil {
		return nil, compileErr, nil
	}
	var list v1alpha1.ImagePolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, nil, fmt.Errorf("list image policies: %w", err)
	}
	valid := []*policies.Policy{self}
	for i := range list.Items {
		other := &list.Items[i]
		if other.Name == obj.Name {
			continue
		}
		if p, err := policies.Compile(other); err == nil {
			valid = append(valid, p)
		}
	}
	var nsList corev1.NamespaceList
	if err := r.Client.List(ctx, &nsList); err != nil {
		return nil, nil, fmt.Errorf("list namespaces: %w", err)
	}
	namespaces := make([]policies.Namespace, len(nsList.Items))
	for i, ns := range nsList.Items {
		namespaces[i] = policies.Namespace{Name: ns.Name, Labels: ns.Labels}
	}
	return policies.NewSet(valid).Usage(obj.Name, namespaces), nil, nil
}

// recordEvents records a Warning when the policy became invalid (or its
// errors changed), or became shadowed (or by other policies): on change
// only, so a policy left broken does not repeat itself every resync.
func (r *Reconciler) recordEvents(before *v1alpha1.ImagePolicyStatus, obj *v1alpha1.ImagePolicy) {
	if r.Recorder == nil {
		return
	}
	now := &obj.Status
	if ready := meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionReady); ready != nil && ready.Status == "False" {
		old := meta.FindStatusCondition(before.Conditions, v1alpha1.ConditionReady)
		if old == nil || old.Status != ready.Status || old.Message != ready.Message {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, EventInvalid, eventAction,
				"pullguard skips this policy: %s", ready.Message)
		}
	}
	if sh := meta.FindStatusCondition(now.Conditions, v1alpha1.ConditionShadowed); sh != nil && sh.Status == "True" {
		if !slices.Equal(shadowers(before), shadowers(now)) {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, EventShadowed, eventAction, "%s", sh.Message)
		}
	}
}

func shadowers(s *v1alpha1.ImagePolicyStatus) []string {
	names := make([]string, len(s.ShadowedBy))
	for i, sb := range s.ShadowedBy {
		names[i] = sb.Policy
	}
	return names
}
