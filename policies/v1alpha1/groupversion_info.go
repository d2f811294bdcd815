// Package v1alpha1 is the pullguard.io/v1alpha1 API: the cluster-scoped
// ImagePolicy that tells pullguard which findings deny, warn or are only
// recorded, which registries and mirrors to use, and whether to pin digests.
//
// +kubebuilder:object:generate=true
// +groupName=pullguard.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "pullguard.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind is the kind of the only type of this API.
const Kind = "ImagePolicy"

func init() {
	SchemeBuilder.Register(&ImagePolicy{}, &ImagePolicyList{})
}
