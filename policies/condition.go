package policies

import (
	"errors"
	"fmt"
	"strings"

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
		Message:            "the policy is valid",
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

// UsageConditions are the InUse and Shadowed conditions for a policy given
// its Usage in the cluster's namespaces; u is nil for a policy that does
// not compile (it is used nowhere, and Ready says why).
func UsageConditions(obj *v1alpha1.ImagePolicy, u *Usage) (inUse, shadowed metav1.Condition) {
	inUse = metav1.Condition{Type: v1alpha1.ConditionInUse, ObservedGeneration: obj.Generation}
	shadowed = metav1.Condition{
		Type: v1alpha1.ConditionShadowed, ObservedGeneration: obj.Generation,
		Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNotShadowed,
		Message: "no other policy decides a namespace this one selects",
	}
	switch {
	case u == nil:
		inUse.Status, inUse.Reason = metav1.ConditionFalse, v1alpha1.ReasonInvalid
		inUse.Message = "the policy is invalid and used nowhere (see the Ready condition); the namespaces it selects are decided by the next policy"
		shadowed.Reason, shadowed.Message = v1alpha1.ReasonInvalid, inUse.Message
		return inUse, shadowed
	case len(u.Namespaces) > 0:
		inUse.Status, inUse.Reason = metav1.ConditionTrue, v1alpha1.ReasonApplies
		inUse.Message = fmt.Sprintf("decides %s: %s", count(len(u.Namespaces), "namespace"), nameList(u.Namespaces))
	case u.Selected == 0:
		inUse.Status, inUse.Reason = metav1.ConditionFalse, v1alpha1.ReasonNoNamespaces
		inUse.Message = "its namespaceSelector selects no namespace"
	default:
		inUse.Status, inUse.Reason = metav1.ConditionFalse, v1alpha1.ReasonShadowedBy
		inUse.Message = fmt.Sprintf("every namespace it selects (%d) is decided by another policy (see the Shadowed condition)", u.Selected)
	}
	if len(u.ShadowedBy) > 0 {
		parts := make([]string, len(u.ShadowedBy))
		for i, s := range u.ShadowedBy {
			parts[i] = fmt.Sprintf("policy %q (%s) decides %s it selects: %s", s.Policy, s.Reason, count(len(s.Namespaces), "namespace"), nameList(s.Namespaces))
		}
		shadowed.Status, shadowed.Reason = metav1.ConditionTrue, v1alpha1.ReasonShadowedBy
		shadowed.Message = strings.Join(parts, "; ") + "; raise spec.priority to take them"
	}
	return inUse, shadowed
}

// SetUsage writes u's counts and bounded lists into status (u nil: none).
func SetUsage(status *v1alpha1.ImagePolicyStatus, u *Usage) {
	status.NamespaceCount, status.Namespaces, status.ShadowedBy = 0, nil, nil
	if u == nil {
		return
	}
	status.NamespaceCount = int32(len(u.Namespaces))
	status.Namespaces = first(u.Namespaces, v1alpha1.MaxStatusNamespaces)
	for _, s := range first(u.ShadowedBy, v1alpha1.MaxStatusNamespaces) {
		status.ShadowedBy = append(status.ShadowedBy, v1alpha1.Shadowing{Policy: s.Policy, NamespaceCount: int32(len(s.Namespaces))})
	}
}

// maxMessageNames bounds the namespaces a condition message lists.
const maxMessageNames = 10

func nameList(names []string) string {
	s := strings.Join(first(names, maxMessageNames), ", ")
	if more := len(names) - maxMessageNames; more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func first[T any](s []T, n int) []T {
	if len(s) > n {
		s = s[:n]
	}
	return s
}
