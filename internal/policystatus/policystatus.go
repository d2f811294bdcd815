// Package policystatus keeps each ImagePolicy's Ready condition in step with
// whether the policy compiles, so `kubectl get imagepolicies` shows a policy
// the webhook cannot use (its field errors in the condition's message)
// instead of leaving the operator to guess why it has no effect.
//
// Only the elected leader runs it (controllers need leader election by
// default in controller-runtime); the webhooks serve on every replica.
package policystatus

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "imagepolicy-status"

// Reconciler writes the Ready condition of ImagePolicy objects through the
// status subresource.
type Reconciler struct {
	// Client reads ImagePolicies (the manager's cached client) and writes
	// their status.
	Client client.Client
}

// SetupWithManager registers the reconciler with mgr, watching ImagePolicies.
// Every event is reconciled, the reconciler's own status writes included:
// those find nothing to change, and an edit of the status by someone else is
// put right.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		For(&v1alpha1.ImagePolicy{}).
		Complete(r)
}

// Reconcile compiles the policy named by req and writes its Ready condition
// when the condition (status, reason, message or observed generation)
// changed. A conflict is returned as an error, so the request is retried
// with the newer object.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj v1alpha1.ImagePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &obj); err != nil {
		// Deleted since the event: nothing to report on.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	_, compileErr := policies.Compile(&obj)
	cond := policies.ReadyCondition(&obj, compileErr)
	if !meta.SetStatusCondition(&obj.Status.Conditions, cond) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Update(ctx, &obj); err != nil {
		return ctrl.Result{}, fmt.Errorf("write status of image policy %q: %w", obj.Name, err)
	}
	logf.FromContext(ctx).V(1).Info("policy status written",
		"ready", cond.Status, "reason", cond.Reason, "observedGeneration", cond.ObservedGeneration)
	return ctrl.Result{}, nil
}
