package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Policy is the compiled ImagePolicy that applies to namespace ("" for
// cluster-scoped objects, which only a policy without a namespaceSelector,
// or with only NotIn/DoesNotExist terms, selects), or policies.Default()
// when none does. Which of several policies applies is policies.Precedes'
// rule (spec.priority, then selective over catch-all, then name).
//
// Invalid policies are skipped (their status says why); the next candidate
// applies.
func (v *View) Policy(ctx context.Context, namespace string) (*policies.Policy, error) {
	var list v1alpha1.ImagePolicyList
	// Compile copies what it keeps, so the cached objects are only read.
	if err := v.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list image policies: %w", err)
	}
	if len(list.Items) == 0 {
		return policies.Default(), nil
	}
	nsLabels, err := v.namespaceLabels(ctx, namespace)
	if err != nil {
		return nil, err
	}
	valid := make([]*policies.Policy, 0, len(list.Items))
	for i := range list.Items {
		obj := &list.Items[i]
		p, err := v.compile(obj)
		if err != nil {
			log.FromContext(ctx).V(1).Info("invalid image policy skipped", "policy", obj.Name, "reason", err.Error())
			continue
		}
		valid = append(valid, p)
	}
	return policies.NewSet(valid).For(nsLabels), nil
}

// namespaceLabels are the labels of namespace, or nil for "". A namespace
// not in the cache yet (created in the same apply) has only the label the
// API server gives every namespace.
func (v *View) namespaceLabels(ctx context.Context, namespace string) (map[string]string, error) {
	if namespace == "" {
		return nil, nil
	}
	var ns corev1.Namespace
	err := v.reader.Get(ctx, types.NamespacedName{Name: namespace}, &ns)
	switch {
	case apierrors.IsNotFound(err):
		return map[string]string{corev1.LabelMetadataName: namespace}, nil
	case err != nil:
		return nil, fmt.Errorf("get namespace %q: %w", namespace, err)
	}
	return ns.Labels, nil
}

// policyKey identifies one spec of one policy: the generation changes with
// the spec only, not with status updates.
type policyKey struct {
	uid        types.UID
	name       string
	generation int64
}

type compiledPolicy struct {
	policy *policies.Policy
	err    error
}

// compile memoises policies.Compile, failures included, by UID and
// generation. Objects without either (never from an API server) are
// compiled every time rather than risk a stale answer.
func (v *View) compile(obj *v1alpha1.ImagePolicy) (*policies.Policy, error) {
	if obj.UID == "" || obj.Generation == 0 {
		return policies.Compile(obj)
	}
	key := policyKey{uid: obj.UID, name: obj.Name, generation: obj.Generation}
	if c, ok := v.compiled.Get(key); ok {
		return c.policy, c.err
	}
	p, err := policies.Compile(obj)
	v.compiled.Add(key, compiledPolicy{policy: p, err: err})
	return p, err
}
