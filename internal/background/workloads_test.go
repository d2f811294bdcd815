package background_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/image"
)

func owned(o client.Object, apiVersion, kind, name string) client.Object {
	yes := true
	o.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + o.GetNamespace() + "-" + name), Controller: &yes,
	}})
	return o
}

func pod(ns, name, img string, phase corev1.PodPhase, imageID string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)}}
	p.Spec.Containers = []corev1.Container{{Name: "c0", Image: img}}
	p.Status.Phase = phase
	if imageID != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c0", ImageID: imageID}}
	}
	return p
}

// TestCollectKeepsWhatRunsOnItsOwn: the workloads are those no checked
// workload owns, that have not finished; pods count for their root.
func TestCollectKeepsWhatRunsOnItsOwn(t *testing.T) {
	t.Parallel()
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-1", UID: "uid-a-web-1"}}
	rs.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c0", Image: "web:v1"}}
	lone := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "lone", UID: "uid-a-lone"}}
	lone.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c0", Image: "lone:v1"}}
	job := func(name string) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name, UID: types.UID("uid-a-" + name)}}
		j.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c0", Image: "job:v1"}}
		return j
	}
	done := job("done")
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "nightly", UID: "uid-a-nightly"}}
	cron.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c0", Image: "job:v1"}}

	ws := background.FromObjects(
		deployment("a", "web", "web:v1"),
		owned(rs, "apps/v1", "Deployment", "web"),
		lone,
		cron,
		owned(job("nightly-1"), "batch/v1", "CronJob", "nightly"),
		job("running"),
		done,
		owned(pod("a", "web-1-x", "web:v1", corev1.PodRunning, "reg/web@sha256:aaa"), "apps/v1", "ReplicaSet", "web-1"),
		owned(pod("a", "web-1-y", "web:v1", corev1.PodRunning, "docker-pullable://reg/web@sha256:bbb"), "apps/v1", "ReplicaSet", "web-1"),
		owned(pod("a", "old", "web:v0", corev1.PodRunning, "reg/web@sha256:000"), "apps/v1", "ReplicaSet", "web-1"),
		pod("a", "bare", "bare:v1", corev1.PodRunning, "sha256:localimageid"),
		pod("a", "ended", "bare:v1", corev1.PodSucceeded, ""),
		owned(pod("a", "operated", "op:v1", corev1.PodRunning, ""), "example.com/v1", "Rollout", "r"),
	)
	var got []string
	for _, w := range ws {
		got = append(got, w.Ref.Kind+"/"+w.Ref.Name)
	}
	want := []string{"Deployment/web", "ReplicaSet/lone", "CronJob/nightly", "Job/running", "Pod/bare", "Pod/operated"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
	web := ws[0]
	running := web.Running[background.Container{Name: "c0", Image: "web:v1"}]
	slices.Sort(running)
	if diff := cmp.Diff([]string{"sha256:aaa", "sha256:bbb"}, running); diff != "" {
		t.Errorf("digests the Deployment's pods run (-want +got):\n%s", diff)
	}
	if len(ws[4].Running) != 0 {
		t.Errorf("an image id without repository digest counted: %v", ws[4].Running)
	}
}

// TestMovedTag: a tag that now names another build than the running pods
// run is a MovedTag warning; the running build passes.
func TestMovedTag(t *testing.T) {
	t.Parallel()
	w := newWorld(t, namespace("a", nil), serviceAccount("a"))
	old := w.reg.PushImage(t, "a/web:v1", amd64)
	now := w.reg.PushIndex(t, "a/web:v1", amd64, arm64)
	ref := w.reg.Ref("a/web:v1")
	for _, tc := range []struct {
		name    string
		running string
		want    image.Class
	}{
		{"runs the old build", old.String(), image.MovedTag},
		{"runs the current build", now.String(), ""},
	} {
		d := deployment("a", "web", ref)
		p := owned(pod("a", "web-x", ref, corev1.PodRunning, "reg/a/web@"+tc.running), "apps/v1", "ReplicaSet", "web-1")
		rs := owned(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-1", UID: "uid-a-web-1"}}, "apps/v1", "Deployment", "web")
		ws := background.FromObjects(d, rs, p)
		rs0, _ := w.checker(1000).Check(context.Background(), ws)
		c := rs0[0].Containers[0]
		if c.Class != tc.want {
			t.Errorf("%s: class %q (%s), want %q", tc.name, c.Class, c.Message, tc.want)
		}
		if tc.want == image.MovedTag && (c.Failing() || !strings.Contains(c.Message, tc.running) || !strings.Contains(c.Fix, "@"+tc.running)) {
			t.Errorf("%s: %+v: want a warning naming the running digest and a fix pinning it", tc.name, c)
		}
	}
}

// TestSlim keeps what pulling depends on and drops the rest, and is
// idempotent.
func TestSlim(t *testing.T) {
	t.Parallel()
	p := pod("a", "p", "img:v1", corev1.PodRunning, "reg/img@sha256:abc")
	p.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000)}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	p.Spec.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64"}
	p.Spec.Volumes = []corev1.Volume{{Name: "v"}}
	once, err := background.Slim(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	twice, _ := background.Slim(once.(*corev1.Pod).DeepCopy())
	if diff := cmp.Diff(once, twice); diff != "" {
		t.Errorf("not idempotent (-once +twice):\n%s", diff)
	}
	s := once.(*corev1.Pod)
	want := corev1.PodSpec{
		Containers:       []corev1.Container{{Name: "c0", Image: "img:v1", ImagePullPolicy: corev1.PullAlways}},
		ImagePullSecrets: p.Spec.ImagePullSecrets, NodeSelector: p.Spec.NodeSelector,
	}
	if diff := cmp.Diff(want, s.Spec); diff != "" {
		t.Errorf("slim spec (-want +got):\n%s", diff)
	}
	if s.Annotations != nil || s.Status.ContainerStatuses[0].ImageID != "reg/img@sha256:abc" || s.UID != p.UID {
		t.Errorf("slim pod: annotations %v, statuses %v, uid %q", s.Annotations, s.Status.ContainerStatuses, s.UID)
	}
}
