//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rolloutTimeout bounds one rollout on the real node: the ReplicaSet
// controller, the scheduler and the kubelet all act.
const rolloutTimeout = 2 * time.Minute

// testRollout rolls a Deployment out for real — kube-controller-manager
// creates the ReplicaSets and Pods, kube-scheduler places them, the
// kubelet runs them — in both namespaces: v1, then v2, then a tag that
// does not exist. Unguarded, the bad tag's pod ends in ErrImagePull and the
// rollout stalls; guarded, the update must be refused (or warned), or it is
// a false allow. It reports how many admission reviews each step cost.
func (r *realBed) testRollout(t *testing.T) {
	const name = "rollout"
	steps := []struct {
		what, tag string
		want      string // reality of the step's new pod
	}{
		{"create at v1", "v1", outRunning},
		{"update to v2", "v2", outRunning},
		{"update to a missing tag", "v9-missing", outErrImagePull},
	}
	var report strings.Builder
	for _, st := range steps {
		image := r.pub("rn/deploy", st.tag)
		// Reality first, where pullguard does not look.
		ign := runKubectl(t, r.Kubectl, toYAML(t, realDeployment(rnIgnored, name, image)), "apply", "-f", "-")
		if ign.Code != 0 {
			t.Fatalf("%s: refused where pullguard does not look:\n%s", st.what, ign)
		}
		reality, event := r.rolloutOutcome(t, rnIgnored, name, image)
		if reality != st.want {
			t.Errorf("%s: reality %s, the step expects %s (kubelet: %s)", st.what, reality, st.want, event)
		}

		before := r.admissionCounts(t)
		g := runKubectl(t, r.Kubectl, toYAML(t, realDeployment(rnGuarded, name, image)), "apply", "-f", "-")
		verdict := "admitted"
		switch {
		case g.Code != 0:
			verdict = "denied " + strings.Join(findingClasses(g.Stderr), ",")
		case len(g.Warnings()) > 0:
			verdict = "warned"
		}
		admitted := "-"
		if g.Code == 0 {
			admitted, _ = r.rolloutOutcome(t, rnGuarded, name, image)
		}
		// The ReplicaSet and its pods are reviewed after the Deployment:
		// let the controllers settle before counting.
		time.Sleep(3 * time.Second)
		calls := diffCounts(before, r.admissionCounts(t))

		judgement := "ok"
		switch {
		case reality == outRunning && g.Code != 0:
			judgement = "FALSE DENY"
			t.Errorf("FALSE DENY: %s runs on the real node, pullguard refused it:\n%s", st.what, g)
		case reality != outRunning && g.Code == 0 && len(g.Warnings()) == 0:
			judgement = "FALSE ALLOW"
			t.Errorf("FALSE ALLOW: %s ends in %s on the real node (kubelet: %s), pullguard admitted it silently", st.what, reality, event)
		case reality == outRunning && admitted != outRunning:
			judgement = "ADMITTED ROLLOUT FAILED"
			t.Errorf("%s: the admitted rollout ends %s", st.what, admitted)
		}
		if reality == outRunning && g.Code == 0 && calls["Pod"] == 0 {
			t.Errorf("%s: the new pod was never reviewed (calls %v): the webhooks do not see what the ReplicaSet creates", st.what, calls)
		}
		fmt.Fprintf(&report, "- %s (%s): reality %s; pullguard %s; admitted rollout %s; reviews %s; %s\n    kubelet: %s\n",
			st.what, image, reality, verdict, admitted, formatCounts(calls), judgement, event)
	}
	t.Logf("Deployment rollout on the real node:\n%s", report.String())
	fmt.Fprintf(os.Stderr, "\n=== real node: Deployment rollout (webhook reviews per step)\n%s\n", report.String())
}

// realDeployment is a one-replica Deployment of image whose pods can run on
// the real node; the scheduler places them.
func realDeployment(ns, name, image string) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": name}
	tmpl := realPod(ns, name, corev1.PodSpec{Containers: []corev1.Container{container("c", image)}})
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
}

// rolloutOutcome waits for a pod of the Deployment running image (made by
// the ReplicaSet controller, placed by the scheduler) and returns its
// outcome on the node.
func (r *realBed) rolloutOutcome(t *testing.T, ns, name, image string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	for {
		var pods corev1.PodList
		if err := r.API.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": name}); err == nil {
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && len(p.Spec.Containers) > 0 && p.Spec.Containers[0].Image == image && p.Spec.NodeName != "" {
					if p.Spec.NodeName != r.Node.Name {
						t.Errorf("pod %s scheduled on %q, not the real node", p.Name, p.Spec.NodeName)
					}
					return r.observe(t, ns, p.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s/%s: no scheduled pod of %s after %s", ns, name, image, rolloutTimeout)
			return "no pod", ""
		case <-time.After(300 * time.Millisecond):
		}
	}
}

var admissionLine = regexp.MustCompile(`^pullguard_admission_requests_total\{([^}]*)\} ([0-9.e+-]+)$`)
var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

// admissionCounts are pullguard's admission reviews so far, by
// "kind endpoint".
func (r *realBed) admissionCounts(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(r.Serve.MetricsURL)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		m := admissionLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[1], -1) {
			labels[p[1]] = p[2]
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		out[labels["kind"]+" "+labels["endpoint"]] += v
	}
	return out
}

// diffCounts is after minus before, by kind (endpoints summed) and by
// "kind endpoint".
func diffCounts(before, after map[string]float64) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		d := int(v - before[k])
		if d == 0 {
			continue
		}
		out[k] += d
		kind, _, _ := strings.Cut(k, " ")
		out[kind] += d
	}
	return out
}

func formatCounts(c map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if strings.Contains(k, " ") {
			parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// testJob runs a Job for real (the Job controller creates its pod, the
// scheduler places it, it exits 0), and one whose image tag does not exist,
// in both namespaces: pullguard must admit the first and refuse (or warn
// about) the second, whose pod really ends in ErrImagePull.
func (r *realBed) testJob(t *testing.T) {
	var report strings.Builder
	for _, tc := range []struct {
		name, tag, want string
	}{
		{"job-ok", "v1", outCompleted},
		{"job-missing-tag", "v9-missing", outErrImagePull},
	} {
		image := r.pub("rn/init", tc.tag)
		ign := runKubectl(t, r.Kubectl, toYAML(t, realJob(rnIgnored, tc.name, image)), "apply", "-f", "-")
		if ign.Code != 0 {
			t.Fatalf("%s: refused where pullguard does not look:\n%s", tc.name, ign)
		}
		reality, event := r.jobOutcome(t, rnIgnored, tc.name)
		if reality != tc.want {
			t.Errorf("%s: reality %s, want %s (kubelet: %s)", tc.name, reality, tc.want, event)
		}
		g := runKubectl(t, r.Kubectl, toYAML(t, realJob(rnGuarded, tc.name, image)), "apply", "-f", "-")
		verdict, admitted := "admitted", "-"
		switch {
		case g.Code != 0:
			verdict = "denied " + strings.Join(findingClasses(g.Stderr), ",")
		case len(g.Warnings()) > 0:
			verdict = "warned"
		}
		if g.Code == 0 {
			admitted, _ = r.jobOutcome(t, rnGuarded, tc.name)
		}
		ok := reality == outCompleted
		judgement := "ok"
		switch {
		case ok && g.Code != 0:
			judgement = "FALSE DENY"
			t.Errorf("FALSE DENY: Job %s completes on the real node, pullguard refused it:\n%s", tc.name, g)
		case !ok && g.Code == 0 && len(g.Warnings()) == 0:
			judgement = "FALSE ALLOW"
			t.Errorf("FALSE ALLOW: Job %s's pod ends in %s (kubelet: %s), pullguard admitted it silently", tc.name, reality, event)
		case ok && admitted != outCompleted:
			judgement = "ADMITTED JOB FAILED"
			t.Errorf("Job %s: the admitted Job's pod ends %s", tc.name, admitted)
		}
		fmt.Fprintf(&report, "- %s (%s): reality %s; pullguard %s; admitted Job's pod %s; %s\n    kubelet: %s\n",
			tc.name, image, reality, verdict, admitted, judgement, event)
	}
	t.Logf("Jobs on the real node:\n%s", report.String())
	fmt.Fprintf(os.Stderr, "\n=== real node: Jobs\n%s\n", report.String())
}

// realJob is a Job of one pod that runs the pause program with "exit".
func realJob(ns, name, image string) *batchv1.Job {
	zero := int32(0)
	c := container("c", image)
	c.Args = []string{"exit"}
	tmpl := realPod(ns, name, corev1.PodSpec{Containers: []corev1.Container{c}})
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: &zero,
			Template:     corev1.PodTemplateSpec{Spec: tmpl.Spec},
		},
	}
}

// jobOutcome waits for the Job's pod and returns its outcome on the node.
func (r *realBed) jobOutcome(t *testing.T, ns, name string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rolloutTimeout)
	defer cancel()
	for {
		var pods corev1.PodList
		if err := r.API.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"job-name": name}); err == nil {
			for _, p := range pods.Items {
				if p.Spec.NodeName != "" {
					return r.observe(t, ns, p.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s/%s: no scheduled pod of the Job after %s", ns, name, rolloutTimeout)
			return "no pod", ""
		case <-time.After(300 * time.Millisecond):
		}
	}
}
