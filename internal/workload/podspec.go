package workload

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// JSON pointers of the PodSpec in each shape of workload.
const (
	podSpecPointer         = "/spec"
	templateSpecPointer    = "/spec/template/spec"
	podTemplateSpecPointer = "/template/spec"
	cronJobSpecPointer     = "/spec/jobTemplate/spec/template/spec"
)

// PodSpecOf returns the PodSpec a workload runs and the JSON pointer of that
// spec in the object. ok is false for kinds that carry no PodSpec; callers
// skip those. ok is true but spec nil when the kind carries a PodSpec and
// this object has none (a ReplicationController without a template, or a nil
// object): there is nothing to pull, which is not an error.
func PodSpecOf(obj runtime.Object) (spec *corev1.PodSpec, pointer string, ok bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return specOf(o, func(o *corev1.Pod) *corev1.PodSpec { return &o.Spec }), podSpecPointer, true
	case *corev1.PodTemplate:
		return specOf(o, func(o *corev1.PodTemplate) *corev1.PodSpec { return &o.Template.Spec }), podTemplateSpecPointer, true
	case *corev1.ReplicationController:
		// The only workload whose template is a pointer.
		return specOf(o, func(o *corev1.ReplicationController) *corev1.PodSpec {
			if o.Spec.Template == nil {
				return nil
			}
			return &o.Spec.Template.Spec
		}), templateSpecPointer, true
	case *appsv1.Deployment:
		return specOf(o, func(o *appsv1.Deployment) *corev1.PodSpec { return &o.Spec.Template.Spec }), templateSpecPointer, true
	case *appsv1.StatefulSet:
		return specOf(o, func(o *appsv1.StatefulSet) *corev1.PodSpec { return &o.Spec.Template.Spec }), templateSpecPointer, true
	case *appsv1.DaemonSet:
		return specOf(o, func(o *appsv1.DaemonSet) *corev1.PodSpec { return &o.Spec.Template.Spec }), templateSpecPointer, true
	case *appsv1.ReplicaSet:
		return specOf(o, func(o *appsv1.ReplicaSet) *corev1.PodSpec { return &o.Spec.Template.Spec }), templateSpecPointer, true
	case *batchv1.Job:
		return specOf(o, func(o *batchv1.Job) *corev1.PodSpec { return &o.Spec.Template.Spec }), templateSpecPointer, true
	case *batchv1.CronJob:
		return specOf(o, func(o *batchv1.CronJob) *corev1.PodSpec { return &o.Spec.JobTemplate.Spec.Template.Spec }), cronJobSpecPointer, true
	default:
		return nil, "", false
	}
}

// specOf guards every kind against a typed nil object in one place.
func specOf[T any](o *T, get func(*T) *corev1.PodSpec) *corev1.PodSpec {
	if o == nil {
		return nil
	}
	return get(o)
}
