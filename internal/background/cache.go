package background

import (
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/workload"
)

// CacheOptions are the manager cache's entries for the watched types, each
// stripped by slim to what the watcher reads: a cluster's Pods and
// templates carry env, volumes, probes and annotations that would
// otherwise sit in the leader's memory. The informers start only when the
// watcher does (on the leader), not with the manager.
func CacheOptions() map[client.Object]cache.ByObject {
	out := map[client.Object]cache.ByObject{}
	for _, o := range WatchedObjects() {
		out[o] = cache.ByObject{Transform: slim}
	}
	return out
}

var _ toolscache.TransformFunc = slim

// slim keeps of a watched object its identity, owners and deletion mark,
// the pod spec's fields that pulling depends on (workload.Uses reads
// them), and the status fields Collect reads (a Pod's phase and image IDs,
// a Job's completion). Anything else is returned unchanged (the informer's
// DeletedFinalStateUnknown among others); slim is idempotent, as client-go
// requires.
func slim(obj any) (any, error) {
	mo, ok := obj.(client.Object)
	if !ok {
		return obj, nil
	}
	spec, _, ok := workload.PodSpecOf(mo)
	if !ok {
		return obj, nil
	}
	mo.SetManagedFields(nil)
	mo.SetAnnotations(nil)
	mo.SetLabels(nil)
	if spec != nil {
		*spec = slimSpec(spec)
	}
	if p, ok := mo.(*corev1.Pod); ok {
		p.Status = corev1.PodStatus{
			Phase:                 p.Status.Phase,
			InitContainerStatuses: slimStatuses(p.Status.InitContainerStatuses),
			ContainerStatuses:     slimStatuses(p.Status.ContainerStatuses),
		}
	}
	return mo, nil
}

func slimSpec(s *corev1.PodSpec) corev1.PodSpec {
	out := corev1.PodSpec{
		ImagePullSecrets:         s.ImagePullSecrets,
		ServiceAccountName:       s.ServiceAccountName,
		DeprecatedServiceAccount: s.DeprecatedServiceAccount,
		NodeSelector:             s.NodeSelector,
		Tolerations:              s.Tolerations,
	}
	if a := s.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		out.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
		}}
	}
	for _, c := range s.InitContainers {
		out.InitContainers = append(out.InitContainers, slimContainer(c))
	}
	for _, c := range s.Containers {
		out.Containers = append(out.Containers, slimContainer(c))
	}
	for _, c := range s.EphemeralContainers {
		out.EphemeralContainers = append(out.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy,
			},
		})
	}
	return out
}

func slimContainer(c corev1.Container) corev1.Container {
	return corev1.Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, s := range in {
		out = append(out, corev1.ContainerStatus{Name: s.Name, ImageID: s.ImageID})
	}
	return out
}
