// Package workload finds every image a Pod or pod template names, and where it
// sits in the object, for the kinds that carry a PodSpec.
package workload

import (
	corev1 "k8s.io/api/core/v1"
)

// ContainerKind says which list of the PodSpec a container is in.
type ContainerKind string

const (
	InitContainer      ContainerKind = "initContainers"
	Container          ContainerKind = "containers"
	EphemeralContainer ContainerKind = "ephemeralContainers"
)

// ImageUse is one container's image, with what the kubelet would need to pull
// it and where it sits in the object (for patches).
type ImageUse struct {
	// Container is the container's name.
	Container string
	Kind      ContainerKind
	// Image is the image string exactly as written.
	Image string
	// PullPolicy is the container's imagePullPolicy as written: defaulted
	// in objects the API server sends, "" in manifest files
	// (image.EffectivePullPolicy applies the default).
	PullPolicy corev1.PullPolicy
	// Pointer is the RFC 6901 JSON pointer of the image field in the object,
	// e.g. "/spec/template/spec/containers/0/image".
	Pointer string
	// Pod is the pod-level context shared by all uses of one pod spec.
	Pod *PodContext
}

// PodContext is what the scheduler and kubelet use from the pod spec when
// pulling: credentials and where the pod may land.
type PodContext struct {
	// SpecPointer is the JSON pointer of the PodSpec ("/spec" for a Pod,
	// "/spec/template/spec" for a Deployment, "/spec/jobTemplate/spec/template/spec" for a CronJob).
	SpecPointer        string
	ImagePullSecrets   []string
	ServiceAccountName string // "" means "default"
	NodeSelector       map[string]string
	// RequiredNodeAffinity is requiredDuringSchedulingIgnoredDuringExecution, or nil.
	RequiredNodeAffinity *corev1.NodeSelector
	Tolerations          []corev1.Toleration
}

// Object identifies the object the uses came from.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// GenerateName is metadata.generateName. Pods that controllers create
	// reach admission with no name yet, only this prefix.
	GenerateName string
}

// String is "Kind/namespace/name", or "Kind/name" when not namespaced. An
// object that has only a generateName shows it followed by "*"
// ("Pod/team-a/api-7d9f5-*"), so messages still say which workload it is.
func (o Object) String() string {
	name := o.Name
	if name == "" && o.GenerateName != "" {
		name = o.GenerateName + "*"
	}
	if o.Namespace == "" {
		return o.Kind + "/" + name
	}
	return o.Kind + "/" + o.Namespace + "/" + name
}
