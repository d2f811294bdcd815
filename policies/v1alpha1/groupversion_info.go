// Package v1alpha1 is the pullguard.io/v1alpha1 API: the cluster-scoped
// ImagePolicy that tells pullguard which findings deny, warn or are only
// recorded, which registries and mirrors to use, and whether to pin digests.
//
// It depends only on apimachinery so that any client can import it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=pullguard.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "pullguard.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind is the kind of the only type of this API.
const Kind = "ImagePolicy"

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ImagePolicy{}, &ImagePolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
