package cluster

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// RBAC the view needs: list and watch (the informers; reads are served from
// their caches) of each type it caches, cluster-wide. The chart's ClusterRole
// copies these markers.
//
// Secrets are the sensitive one: the informer lists pull secrets in every
// namespace, because any pod may name one. CacheOptions keeps the other
// types off the wire as far as a field selector can, and every value but
// the docker config out of memory.
//
// +kubebuilder:rbac:groups="",resources=nodes;namespaces;serviceaccounts;secrets,verbs=list;watch
// +kubebuilder:rbac:groups=pullguard.io,resources=imagepolicies,verbs=list;watch

// nonPullSecretTypes are the common secret types the kubelet never reads for
// pulls, kept out of the secret informer by the API server. A field selector
// cannot say "type in (A, B)", and one type alone would lose the legacy
// kubernetes.io/dockercfg secrets the kubelet still honours; excluding the
// bulky usual types (Helm releases, service account tokens, TLS) keeps nearly
// everything else off the wire, and transformSecret empties what still
// comes.
var nonPullSecretTypes = []corev1.SecretType{
	corev1.SecretTypeOpaque,
	corev1.SecretTypeServiceAccountToken,
	corev1.SecretTypeTLS,
	corev1.SecretTypeBasicAuth,
	corev1.SecretTypeSSHAuth,
	corev1.SecretTypeBootstrapToken,
	"helm.sh/release.v1",
}

// pullSecretSelector is the field selector of the secret informer.
func pullSecretSelector() fields.Selector {
	terms := make([]fields.Selector, len(nonPullSecretTypes))
	for i, t := range nonPullSecretTypes {
		terms[i] = fields.OneTermNotEqualSelector("type", string(t))
	}
	return fields.AndSelectors(terms...)
}

// CacheOptions is what the manager's cache must hold for the view, and no
// more: Nodes, Namespaces, ServiceAccounts, ImagePolicies and pull Secrets,
// each stripped by a transform to the fields the view reads. Other types
// only lose their managedFields. Callers may add ByObject entries of their
// own; they must not replace these.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:         {Field: pullSecretSelector(), Transform: transformSecret},
			&corev1.Node{}:           {Transform: transformNode},
			&corev1.Namespace{}:      {Transform: transformNamespace},
			&corev1.ServiceAccount{}: {Transform: transformServiceAccount},
			// Kept whole but for managedFields: the status reconciler
			// reads spec and status from the same cache.
			&v1alpha1.ImagePolicy{}: {Transform: cache.TransformStripManagedFields()},
		},
	}
}

// Scheme knows the built-in types (client-go's scheme) and pullguard.io/v1alpha1.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// Registering static types fails only on a programming error (one kind
	// registered with two types), which the tests would catch.
	builder := runtime.NewSchemeBuilder(clientgoscheme.AddToScheme, v1alpha1.AddToScheme)
	_ = builder.AddToScheme(s)
	return s
}

// meta keeps only the identity of an object: no labels, annotations (the
// last-applied-configuration annotation holds a secret's data in the
// clear), owner references or managedFields.
func meta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            m.Name,
		Namespace:       m.Namespace,
		UID:             m.UID,
		ResourceVersion: m.ResourceVersion,
		Generation:      m.Generation,
	}
}

// The transforms return anything that is not their type unchanged
// (toolscache.DeletedFinalStateUnknown among others), and are idempotent,
// as client-go requires.
var (
	_ toolscache.TransformFunc = transformSecret
	_ toolscache.TransformFunc = transformNode
	_ toolscache.TransformFunc = transformNamespace
	_ toolscache.TransformFunc = transformServiceAccount
)

// transformSecret keeps the type and the one data key the kubelet reads for
// it; every other value is dropped.
func transformSecret(obj any) (any, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := &corev1.Secret{TypeMeta: s.TypeMeta, ObjectMeta: meta(&s.ObjectMeta), Type: s.Type}
	if key, _ := pullSecretKey(s.Type); key != "" {
		if data, ok := s.Data[key]; ok {
			out.Data = map[string][]byte{key: data}
		}
	}
	return out, nil
}

// transformNode keeps labels, taints, condition types and statuses, the
// os/arch the kubelet reports, and the names of the images it lists
// (imagePullPolicy Never and IfNotPresent are decided from them).
func transformNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	out := &corev1.Node{TypeMeta: n.TypeMeta, ObjectMeta: meta(&n.ObjectMeta)}
	out.Labels = n.Labels
	out.Spec.Taints = n.Spec.Taints
	for _, c := range n.Status.Conditions {
		out.Status.Conditions = append(out.Status.Conditions, corev1.NodeCondition{Type: c.Type, Status: c.Status})
	}
	out.Status.NodeInfo.OperatingSystem = n.Status.NodeInfo.OperatingSystem
	out.Status.NodeInfo.Architecture = n.Status.NodeInfo.Architecture
	for _, img := range n.Status.Images {
		out.Status.Images = append(out.Status.Images, corev1.ContainerImage{Names: img.Names})
	}
	return out, nil
}

// transformNamespace keeps the labels policies select on.
func transformNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	out := &corev1.Namespace{TypeMeta: ns.TypeMeta, ObjectMeta: meta(&ns.ObjectMeta)}
	out.Labels = ns.Labels
	return out, nil
}

// transformServiceAccount keeps the imagePullSecrets.
func transformServiceAccount(obj any) (any, error) {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return obj, nil
	}
	out := &corev1.ServiceAccount{TypeMeta: sa.TypeMeta, ObjectMeta: meta(&sa.ObjectMeta)}
	out.ImagePullSecrets = sa.ImagePullSecrets
	return out, nil
}
