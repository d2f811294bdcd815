package background

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/workload"
)

// RBAC the watcher needs to read workloads: list and watch (informers),
// cluster-wide, read only. The chart's ClusterRole copies these markers.
//
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets;replicasets,verbs=list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=list;watch

// Workload is one object whose pods pull images.
type Workload struct {
	// Ref names it (apiVersion, kind, namespace, name, uid): the Report's
	// subject and the Event's object.
	Ref corev1.ObjectReference
	// Spec is the pod spec it runs (the template's for controllers), and
	// SpecPointer its JSON pointer in the object.
	Spec        *corev1.PodSpec
	SpecPointer string
	// Running are the digests its running pods run, per container and
	// image as written (see runningDigests); nil when none is known.
	Running map[Container][]string
}

// Container names one container's image in a workload.
type Container struct {
	Name, Image string
}

// Key identifies a workload across cycles.
type Key struct {
	Namespace, Kind, Name string
}

func (w *Workload) Key() Key {
	return Key{Namespace: w.Ref.Namespace, Kind: w.Ref.Kind, Name: w.Ref.Name}
}

// Object is the workload as decide names it in messages.
func (w *Workload) Object() workload.Object {
	return workload.Object{APIVersion: w.Ref.APIVersion, Kind: w.Ref.Kind, Namespace: w.Ref.Namespace, Name: w.Ref.Name}
}

// kinds are the lists the watcher reads, workloads first and Pods last
// (pods are matched to the workloads that own them).
func kinds() []client.ObjectList {
	return []client.ObjectList{
		&appsv1.DeploymentList{}, &appsv1.StatefulSetList{}, &appsv1.DaemonSetList{}, &appsv1.ReplicaSetList{},
		&batchv1.CronJobList{}, &batchv1.JobList{}, &corev1.PodList{},
	}
}

// WatchedObjects are the types the watcher's informers hold.
func WatchedObjects() []client.Object {
	return []client.Object{
		&appsv1.Deployment{}, &appsv1.StatefulSet{}, &appsv1.DaemonSet{}, &appsv1.ReplicaSet{},
		&batchv1.CronJob{}, &batchv1.Job{}, &corev1.Pod{},
	}
}

// Collect lists the workloads of namespace ("" for all) from reader (the
// manager's cached client): every object of the watched kinds that runs
// pods and is not owned by another one the watcher checks, with the
// digests its running pods run.
func Collect(ctx context.Context, reader client.Reader, namespace string) ([]Workload, error) {
	var objs []runtime.Object
	for _, l := range kinds() {
		if err := reader.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list %T: %w", l, err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return nil, err
		}
		objs = append(objs, items...)
	}
	return fromObjects(objs), nil
}

// fromObjects keeps the objects that are workloads of their own (see
// owned) and gives each the digests its pods run.
func fromObjects(objs []runtime.Object) []Workload {
	// root maps a ReplicaSet's or Job's uid to the workload its pods
	// count for: its Deployment or CronJob, or itself.
	root := map[types.UID]types.UID{}
	var out []Workload
	index := map[types.UID]int{}
	var pods []*corev1.Pod
	for _, o := range objs {
		mo, ok := o.(client.Object)
		if !ok {
			continue
		}
		switch v := o.(type) {
		case *appsv1.ReplicaSet, *batchv1.Job:
			root[mo.GetUID()] = mo.GetUID()
			if c := metav1.GetControllerOf(mo); c != nil && checkedOwner(mo, c) {
				root[mo.GetUID()] = c.UID
			}
		case *corev1.Pod:
			pods = append(pods, v)
		}
		w, ok := workloadOf(o)
		if !ok {
			continue
		}
		index[w.Ref.UID] = len(out)
		out = append(out, w)
	}
	for _, p := range pods {
		uid := p.UID
		if c := metav1.GetControllerOf(p); c != nil {
			uid = c.UID
			if r, ok := root[uid]; ok {
				uid = r
			}
		}
		if i, ok := index[uid]; ok {
			addRunning(&out[i], p)
		}
	}
	return out
}

// workloadOf is o as a workload, or false when o runs no pods of its own
// account: it is owned by a workload the watcher checks, has finished,
// or has no pod spec.
func workloadOf(o runtime.Object) (Workload, bool) {
	mo, ok := o.(client.Object)
	if !ok || mo.GetDeletionTimestamp() != nil {
		return Workload{}, false
	}
	if c := metav1.GetControllerOf(mo); c != nil && checkedOwner(mo, c) {
		return Workload{}, false
	}
	switch v := o.(type) {
	case *batchv1.Job:
		if finished(v) {
			return Workload{}, false
		}
	case *corev1.Pod:
		if v.Status.Phase == corev1.PodSucceeded || v.Status.Phase == corev1.PodFailed {
			return Workload{}, false
		}
	}
	spec, pointer, ok := workload.PodSpecOf(o)
	if !ok || spec == nil {
		return Workload{}, false
	}
	gvk, ok := gvkOf(o)
	if !ok {
		return Workload{}, false
	}
	return Workload{
		Ref: corev1.ObjectReference{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: mo.GetNamespace(), Name: mo.GetName(), UID: mo.GetUID(),
		},
		Spec: spec, SpecPointer: pointer,
	}, true
}

// checkedOwner says whether controller c of o is a workload the watcher
// checks in o's stead: a Deployment's ReplicaSets, a CronJob's Jobs, and
// the Pods of ReplicaSets, StatefulSets, DaemonSets and Jobs. Pods of
// other controllers (an operator's custom resource) are checked as pods.
func checkedOwner(o client.Object, c *metav1.OwnerReference) bool {
	group := c.APIVersion
	if i := strings.Index(group, "/"); i >= 0 {
		group = group[:i]
	} else {
		group = ""
	}
	switch o.(type) {
	case *appsv1.ReplicaSet:
		return group == "apps" && c.Kind == "Deployment"
	case *batchv1.Job:
		return group == "batch" && c.Kind == "CronJob"
	case *corev1.Pod:
		switch {
		case group == "apps":
			return c.Kind == "ReplicaSet" || c.Kind == "StatefulSet" || c.Kind == "DaemonSet"
		case group == "batch":
			return c.Kind == "Job"
		}
	}
	return false
}

// finished says whether a Job is complete or failed: its pods pull nothing
// more.
func finished(j *batchv1.Job) bool {
	if j.Status.CompletionTime != nil {
		return true
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// addRunning records the digests pod p runs for w: the repository digest
// of each container status's imageID ("repo@sha256:…", as containerd and
// the docker shim report it), keyed by the image the pod's spec names, so
// pods of an older template (another image) never count.
func addRunning(w *Workload, p *corev1.Pod) {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	images := map[string]string{}
	for _, c := range p.Spec.InitContainers {
		images[c.Name] = c.Image
	}
	for _, c := range p.Spec.Containers {
		images[c.Name] = c.Image
	}
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		d := repoDigest(s.ImageID)
		img, ok := images[s.Name]
		if d == "" || !ok {
			continue
		}
		if w.Running == nil {
			w.Running = map[Container][]string{}
		}
		k := Container{Name: s.Name, Image: img}
		if !slices.Contains(w.Running[k], d) {
			w.Running[k] = append(w.Running[k], d)
		}
	}
}

// repoDigest is the digest after the last "@" of an imageID, or "" when it
// names none (an image id without repository digest, as for an image
// loaded into the node).
func repoDigest(imageID string) string {
	i := strings.LastIndex(imageID, "@")
	if i < 0 || !strings.Contains(imageID[i+1:], ":") {
		return ""
	}
	return imageID[i+1:]
}

// gvkOf is o's kind as the API names it (objects from the cache carry no
// TypeMeta).
func gvkOf(o runtime.Object) (schema.GroupVersionKind, bool) {
	gvks, _, err := clientgoscheme.Scheme.ObjectKinds(o)
	if err != nil || len(gvks) == 0 {
		return schema.GroupVersionKind{}, false
	}
	return gvks[0], true
}
