//go:build e2e

package e2e

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/policies/v1alpha1"
	"github.com/pullguard/pullguard/test/bed"
	"github.com/pullguard/pullguard/webhook"
)

// Namespaces of the cases, created before pullguard starts so its caches
// hold them (and the policies selecting them) once /readyz passes.
const (
	nsApps     = "e2e-apps"     // the built-in policy; pull secrets and a service account
	nsPin      = "e2e-pin"      // policy e2e-pin: pinDigests TagAndDigest
	nsMirror   = "e2e-mirror"   // policy e2e-mirror: shop/ through mirror/shop/
	nsAffinity = "e2e-affinity" // policy e2e-affinity: platformAffinity
	nsUpdate   = "e2e-update"   // starts opted out of the webhooks
	caseLabel  = "e2e.pullguard.io/case"
)

// Pull secrets and service accounts in nsApps.
const (
	podSecret  = "billing-pull"    // named by pods themselves
	saSecret   = "billing-pull-sa" // named only by service account saWithPull
	saWithPull = "billing"
)

// createClusterObjects makes the namespaces, pull secrets, service
// accounts and image policies the cases rely on.
func createClusterObjects(ctx context.Context, b *bed.Bed) error {
	c := b.API.Client
	namespaces := []struct {
		name   string
		labels map[string]string
	}{
		{nsApps, nil},
		{nsPin, map[string]string{caseLabel: "pin"}},
		{nsMirror, map[string]string{caseLabel: "mirror"}},
		{nsAffinity, map[string]string{caseLabel: "affinity"}},
		{nsUpdate, map[string]string{webhook.OptOutLabel: "true"}},
	}
	for _, ns := range namespaces {
		if err := bed.CreateNamespace(ctx, c, ns.name, ns.labels); err != nil {
			return err
		}
	}
	for _, name := range []string{podSecret, saSecret} {
		s, err := b.Private.PullSecret(nsApps, name)
		if err != nil {
			return err
		}
		if err := c.Create(ctx, s); err != nil {
			return err
		}
	}
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: saWithPull, Namespace: nsApps},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: saSecret}},
	}
	if err := c.Create(ctx, sa); err != nil {
		return err
	}
	for _, p := range policies(b.Public.Host) {
		if err := c.Create(ctx, p); err != nil {
			return fmt.Errorf("image policy %q: %w", p.Name, err)
		}
	}
	return nil
}

// policies are the cases' ImagePolicies: each selects its namespace by
// label, so none applies to nsApps (which gets the built-in policy).
func policies(publicHost string) []*v1alpha1.ImagePolicy {
	selecting := func(name string) *v1alpha1.ImagePolicy {
		return &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + name},
			Spec: v1alpha1.ImagePolicySpec{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{caseLabel: name},
			}},
		}
	}
	pin := selecting("pin")
	pin.Spec.PinDigests = v1alpha1.PinTagAndDigest
	mirror := selecting("mirror")
	mirror.Spec.Mirrors = []v1alpha1.Mirror{{
		From: v1alpha1.RegistryPrefix(publicHost + "/shop"),
		To:   v1alpha1.RegistryPrefix(publicHost + "/" + mirrorPrefix + "/shop"),
	}}
	affinity := selecting("affinity")
	affinity.Spec.PlatformAffinity = true
	// The CRD cannot check a selector's operator; Compile can, so this
	// policy is stored and must report Ready=False.
	invalid := selecting("invalid")
	invalid.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: caseLabel, Operator: "Sometimes", Values: []string{"invalid"}},
	}}
	return []*v1alpha1.ImagePolicy{pin, mirror, affinity, invalid}
}

func pod(name, ns, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}
