package cluster_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// byObject finds the CacheOptions entry for obj's type.
func byObject(t *testing.T, opts cache.Options, obj any) cache.ByObject {
	t.Helper()
	want := fmt.Sprintf("%T", obj)
	for k, b := range opts.ByObject {
		if fmt.Sprintf("%T", k) == want {
			return b
		}
	}
	t.Fatalf("CacheOptions has no entry for %s", want)
	return cache.ByObject{}
}

func TestCacheOptionsTypes(t *testing.T) {
	t.Parallel()
	opts := cluster.CacheOptions()
	var got []string
	for k := range opts.ByObject {
		got = append(got, fmt.Sprintf("%T", k))
	}
	want := []string{"*v1.Namespace", "*v1.Node", "*v1.Secret", "*v1.ServiceAccount", "*v1alpha1.ImagePolicy"}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("cached types (-want +got):\n%s", diff)
	}
	if opts.DefaultTransform == nil {
		t.Error("no DefaultTransform: other types would keep their managedFields")
	}
}

func TestSecretFieldSelector(t *testing.T) {
	t.Parallel()
	sel := byObject(t, cluster.CacheOptions(), &corev1.Secret{}).Field
	if sel == nil {
		t.Fatal("no field selector on secrets")
	}
	tests := []struct {
		typ  corev1.SecretType
		want bool
	}{
		{corev1.SecretTypeDockerConfigJson, true},
		{corev1.SecretTypeDockercfg, true},
		{"example.com/custom", true}, // kept, but transformed to nothing
		{corev1.SecretTypeOpaque, false},
		{corev1.SecretTypeServiceAccountToken, false},
		{corev1.SecretTypeTLS, false},
		{corev1.SecretTypeBasicAuth, false},
		{corev1.SecretTypeSSHAuth, false},
		{corev1.SecretTypeBootstrapToken, false},
		{"helm.sh/release.v1", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			if got := sel.Matches(fields.Set{"type": string(tt.typ)}); got != tt.want {
				t.Errorf("selector %q matches type %q = %v, want %v", sel, tt.typ, got, tt.want)
			}
		})
	}
}

// noisy is metadata every transform must drop.
func noisy(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace, UID: "uid-1", ResourceVersion: "42", Generation: 3,
		Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"c2VjcmV0"}}`,
		},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
		OwnerReferences: []metav1.OwnerReference{{Name: "owner", Kind: "Thing", APIVersion: "v1", UID: "o"}},
		Finalizers:      []string{"example.com/f"},
	}
}

func identity(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, UID: "uid-1", ResourceVersion: "42", Generation: 3}
}

func TestTransforms(t *testing.T) {
	t.Parallel()
	opts := cluster.CacheOptions()
	nodeMeta := identity("n1", "")
	nodeMeta.Labels = map[string]string{"team": "a"}
	nsMeta := identity("team-a", "")
	nsMeta.Labels = map[string]string{"team": "a"}
	taints := []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
	policy := &v1alpha1.ImagePolicy{
		ObjectMeta: noisy("baseline", ""),
		Spec:       v1alpha1.ImagePolicySpec{Mode: v1alpha1.ModeAudit},
		Status:     v1alpha1.ImagePolicyStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue}}},
	}
	policyWant := policy.DeepCopy()
	policyWant.ManagedFields = nil

	tests := []struct {
		name string
		typ  any
		in   any
		want any
	}{{
		name: "dockerconfigjson secret keeps only its key",
		typ:  &corev1.Secret{},
		in: &corev1.Secret{
			ObjectMeta: noisy("regcred", "ns"), Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{}"), corev1.DockerConfigKey: []byte("x"), "token": []byte("secret")},
		},
		want: &corev1.Secret{ObjectMeta: identity("regcred", "ns"), Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{}")}},
	}, {
		name: "dockercfg secret keeps only its key",
		typ:  &corev1.Secret{},
		in: &corev1.Secret{
			ObjectMeta: noisy("legacy", "ns"), Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{}"), corev1.DockerConfigKey: []byte("{}")},
		},
		want: &corev1.Secret{ObjectMeta: identity("legacy", "ns"), Type: corev1.SecretTypeDockercfg,
			Data: map[string][]byte{corev1.DockerConfigKey: []byte("{}")}},
	}, {
		name: "other secrets keep no data",
		typ:  &corev1.Secret{},
		in: &corev1.Secret{
			ObjectMeta: noisy("custom", "ns"), Type: "example.com/custom",
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte("{}"), "password": []byte("secret")},
			StringData: map[string]string{"password": "secret"},
		},
		want: &corev1.Secret{ObjectMeta: identity("custom", "ns"), Type: "example.com/custom"},
	}, {
		name: "node keeps labels, taints, conditions, os/arch and image names",
		typ:  &corev1.Node{},
		in: &corev1.Node{
			ObjectMeta: noisy("n1", ""),
			Spec:       corev1.NodeSpec{Taints: taints, PodCIDR: "10.0.0.0/24", ProviderID: "cloud://n1"},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{
					Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					Message: "kubelet is posting ready status", LastHeartbeatTime: metav1.Now(),
				}},
				NodeInfo: corev1.NodeSystemInfo{
					OperatingSystem: "linux", Architecture: "arm64", KernelVersion: "6.1", MachineID: "m",
				},
				Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
				Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}},
				Images:    []corev1.ContainerImage{{Names: []string{"registry.example.com/app:v1"}, SizeBytes: 1 << 20}},
			},
		},
		want: &corev1.Node{
			ObjectMeta: nodeMeta,
			Spec:       corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
				NodeInfo:   corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "arm64"},
				Images:     []corev1.ContainerImage{{Names: []string{"registry.example.com/app:v1"}}},
			},
		},
	}, {
		name: "namespace keeps labels",
		typ:  &corev1.Namespace{},
		in: &corev1.Namespace{ObjectMeta: noisy("team-a", ""),
			Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		want: &corev1.Namespace{ObjectMeta: nsMeta},
	}, {
		name: "service account keeps imagePullSecrets",
		typ:  &corev1.ServiceAccount{},
		in: &corev1.ServiceAccount{ObjectMeta: noisy("builder", "ns"),
			Secrets:          []corev1.ObjectReference{{Name: "builder-token"}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
		want: &corev1.ServiceAccount{ObjectMeta: identity("builder", "ns"),
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
	}, {
		name: "image policy loses only managedFields",
		typ:  &v1alpha1.ImagePolicy{},
		in:   policy,
		want: policyWant,
	}, {
		name: "a deleted object of unknown state passes through",
		typ:  &corev1.Secret{},
		in:   toolscache.DeletedFinalStateUnknown{Key: "ns/regcred"},
		want: toolscache.DeletedFinalStateUnknown{Key: "ns/regcred"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			transform := byObject(t, opts, tt.typ).Transform
			if transform == nil {
				t.Fatalf("no transform for %T", tt.typ)
			}
			got, err := transform(tt.in)
			if err != nil {
				t.Fatalf("transform: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transformed (-want +got):\n%s", diff)
			}
			// client-go may transform an object twice.
			again, err := transform(got)
			if err != nil {
				t.Fatalf("transform again: %v", err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("transform is not idempotent (-once +twice):\n%s", diff)
			}
			if _, ok := tt.typ.(*corev1.Secret); !ok {
				return
			}
			if s := fmt.Sprintf("%+v", got); strings.Contains(s, "secret") || strings.Contains(s, "c2VjcmV0") {
				t.Errorf("secret material survived the transform: %s", s)
			}
		})
	}
}

func TestScheme(t *testing.T) {
	t.Parallel()
	s := cluster.Scheme()
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("Secret"),
		corev1.SchemeGroupVersion.WithKind("Node"),
		appsv1.SchemeGroupVersion.WithKind("Deployment"),
		v1alpha1.GroupVersion.WithKind(v1alpha1.Kind),
		v1alpha1.GroupVersion.WithKind(v1alpha1.Kind + "List"),
	} {
		if !s.Recognizes(gvk) {
			t.Errorf("scheme does not know %v", gvk)
		}
	}
}
