//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/test/bed"
	"github.com/pullguard/pullguard/webhook"
)

// TestDiagnose: pods stuck the way the kubelet reports it (the waiting
// reason and message on the status subresource, the kubelet's Failed
// events in containerd 2.x's words, as REALNODE.md quotes them) are
// explained by `kubectl pullguard diagnose` — the plugin, through the real
// kubectl — with the cause, where it lives and the fix. A registry that
// answers pullguard fine while the node failed puts the cause on the node.
func TestDiagnose(t *testing.T) {
	t.Parallel()
	const ns = "e2e-diagnose"
	ctx := context.Background()
	c := the.API.Client
	if err := bed.CreateNamespace(ctx, c, ns, map[string]string{webhook.OptOutLabel: "true"}); err != nil {
		t.Fatal(err)
	}
	k := pluginKubectl(t, the.Kubectl)

	tests := []struct {
		name, image, reason, event string
		want                       []string // in the text output
		cause, where               string
	}{{
		name:   "missing-tag",
		image:  pub(repoAPI, "v1.2.9"),
		reason: "ImagePullBackOff",
		event:  `Failed to pull image "` + pub(repoAPI, "v1.2.9") + `": rpc error: code = NotFound desc = failed to pull and unpack image "` + pub(repoAPI, "v1.2.9") + `": failed to resolve image: ` + pub(repoAPI, "v1.2.9") + `: not found`,
		cause:  "NotFound", where: "registry",
		want: []string{"cause: NotFound (in the registry)", `use an existing tag such as "` + pub(repoAPI, tagAPI) + `"`, "tags nearby: " + tagAPI + ", " + tagAPINext},
	}, {
		name:   "no-credentials",
		image:  priv(repoBilling, tagBilling),
		reason: "ErrImagePull",
		event:  `Failed to pull image "` + priv(repoBilling, tagBilling) + `": failed to pull and unpack image "` + priv(repoBilling, tagBilling) + `": failed to resolve image: pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials`,
		cause:  "Unauthorized", where: "registry",
		want: []string{"cause: Unauthorized (in the registry)", "kubectl create secret docker-registry"},
	}, {
		name:   "node-dns",
		image:  pub(repoAPI, tagAPI),
		reason: "ImagePullBackOff",
		event:  `Failed to pull image "` + pub(repoAPI, tagAPI) + `": failed to pull and unpack image "` + pub(repoAPI, tagAPI) + `": failed to resolve image: failed to do request: Head "https://` + the.Public.Host + `/v2/shop/api/manifests/` + tagAPI + `": dial tcp: lookup 127.0.0.1: no such host`,
		cause:  "NodeNetwork", where: "node",
		want: []string{"cause: NodeNetwork (on the node)", "answers pullguard but not node node-amd64", "nslookup"},
	}, {
		name:   "node-disk",
		image:  pub(repoAPI, tagAPI),
		reason: "ErrImagePull",
		event:  `Failed to pull image "` + pub(repoAPI, tagAPI) + `": failed to pull and unpack image "` + pub(repoAPI, tagAPI) + `": failed to extract layer sha256:ab: write /var/lib/containerd/x: no space left on device: unknown`,
		cause:  "DiskPressure", where: "node",
		want: []string{"cause: DiskPressure (on the node)", "crictl rmi --prune"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stagePod(t, ns, tc.name, tc.image, tc.reason, tc.event)
			args := []string{"pullguard", "diagnose", tc.name, "-n", ns, "--registry-ca-file", the.CA.PEMPath}
			r := runKubectl(t, k, "", args...)
			wantExit(t, r, 1)
			wantOutput(t, r, append([]string{`container "c", image "` + tc.image + `": ` + tc.reason, tc.event}, tc.want...)...)
			r = runKubectl(t, k, "", append(args, "-o", "json")...)
			wantExit(t, r, 1)
			var report diagnoseReport
			if err := json.Unmarshal([]byte(r.Stdout), &report); err != nil || len(report.Pods) != 1 || len(report.Pods[0].Containers) != 1 {
				t.Fatalf("JSON %q: %v", r.Stdout, err)
			}
			if got := report.Pods[0].Containers[0]; got.Cause != tc.cause || got.Where != tc.where || got.Fix == "" {
				t.Errorf("JSON verdict %+v, want cause %s where %s with a fix", got, tc.cause, tc.where)
			}
		})
	}
	t.Run("not-stuck", func(t *testing.T) {
		t.Parallel()
		stagePod(t, ns, "running", pub(repoAPI, tagAPI), "", "")
		r := runKubectl(t, k, "", "pullguard", "diagnose", "running", "-n", ns)
		wantExit(t, r, 0)
		wantOutput(t, r, "is not stuck pulling")
	})
	t.Run("no-such-pod", func(t *testing.T) {
		t.Parallel()
		r := runKubectl(t, k, "", "pullguard", "diagnose", "nope", "-n", ns)
		wantExit(t, r, 2)
		wantOutput(t, r, `pod "nope" not found in namespace "e2e-diagnose"`)
	})
}

// pluginKubectl is k with bin/ first on its PATH, so that `kubectl
// pullguard` runs the plugin `make build` links there.
func pluginKubectl(t *testing.T, k bed.Kubectl) bed.Kubectl {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kubectl-pullguard")); err != nil {
		t.Fatalf("make build makes the plugin: %v", err)
	}
	k.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	return k
}

// diagnoseReport is what `pullguard diagnose -o json` prints.
type diagnoseReport struct {
	Pods []struct {
		Name       string `json:"name"`
		Containers []struct {
			Container, Cause, Where, Fix string
			Evidence                     []string
		} `json:"containers"`
	} `json:"pods"`
}

// stagePod creates a pod on node-amd64 (no kubelet runs there) and writes
// what a kubelet would: the container waiting with reason (running when
// ""), and its Failed event.
func stagePod(t *testing.T, ns, name, image, reason, event string) {
	t.Helper()
	ctx := context.Background()
	c := the.API.Client
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   "node-amd64",
			Containers: []corev1.Container{{Name: "c", Image: image}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	if reason != "" {
		state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: strings.TrimPrefix(event, `Failed to pull image "`+image+`": `)}}
	}
	pod.Status = corev1.PodStatus{
		Phase:             corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Image: image, State: state, Ready: reason == ""}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if event == "" {
		return
	}
	now := metav1.NewTime(time.Now())
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name + ".failed", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: name, UID: pod.UID,
			FieldPath: "spec.containers{c}"},
		Reason: "Failed", Message: event, Type: corev1.EventTypeWarning, Count: 3,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-amd64"},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if err := c.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
}
