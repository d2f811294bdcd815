package policies

import (
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// ReadyCondition is the Ready condition for a policy given Compile's error,
// for meta.SetStatusCondition (which sets the transition time).
func ReadyCondition(obj *v1alpha1.ImagePolicy, compileErr error) metav1.Condition {
	c := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonValid,
		Message:            "the policy is valid and in use",
		ObservedGeneration: obj.Generation,
	}
	if compileErr != nil {
		c.Status = metav1.ConditionFalse
		c.Reason = v1alpha1.ReasonInvalid
		c.Message = compileErr.Error()
		var inv *InvalidPolicyError
		if errors.As(compileErr, &inv) {
			c.Message = inv.Errs.ToAggregate().Error()
		}
	}
	return c
}
