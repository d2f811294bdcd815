package cluster

import (
	"context"
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/workload"
)

// Platforms are the distinct platforms, sorted by "os/arch", of the Ready
// nodes the pod may be scheduled on: its nodeSelector and required node
// affinity match the node (the scheduler's own matching, from
// k8s.io/component-helpers, so every operator and matchFields behave as
// they do there), and it tolerates the node's NoSchedule and NoExecute
// taints (a cordoned node carries node.kubernetes.io/unschedulable). Nil
// when no node qualifies, which skips platform checks. A nil pod selects
// nothing and tolerates nothing.
func (v *View) Platforms(ctx context.Context, pod *workload.PodContext) ([]v1.Platform, error) {
	var nodes corev1.NodeList
	// The nodes are only read, and copying every node for every admission
	// would dominate the cost in a large cluster.
	if err := v.reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var (
		selector    map[string]string
		affinity    *corev1.Affinity
		tolerations []corev1.Toleration
	)
	if pod != nil {
		selector, tolerations = pod.NodeSelector, pod.Tolerations
		if pod.RequiredNodeAffinity != nil {
			affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: pod.RequiredNodeAffinity,
			}}
		}
	}
	required := nodeaffinity.NewRequiredNodeAffinity(selector, affinity)
	logger := log.FromContext(ctx)
	seen := map[string]v1.Platform{}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if !ready(node) {
			continue
		}
		// An invalid term (which the API server's validation should have
		// refused) matches no node, as in the scheduler.
		if ok, _ := required.Match(node); !ok {
			continue
		}
		// Comparison operators (Gt, Lt) are honoured: the API server only
		// accepts them where the feature is enabled.
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, tolerations, schedulingTaint, true); untolerated {
			continue
		}
		if p, ok := platformOf(node); ok {
			seen[p.String()] = p
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]v1.Platform, len(keys))
	for i, k := range keys {
		out[i] = seen[k]
	}
	return out, nil
}

// schedulingTaint selects the taints that keep a pod off a node;
// PreferNoSchedule only lowers a node's score.
func schedulingTaint(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

func ready(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// platformOf is the node's os/arch from its well-known labels (what
// nodeSelectors and pullguard's own affinity use), falling back to what the
// kubelet reports in status.nodeInfo.
func platformOf(node *corev1.Node) (v1.Platform, bool) {
	os, arch := node.Labels[corev1.LabelOSStable], node.Labels[corev1.LabelArchStable]
	if os == "" {
		os = node.Status.NodeInfo.OperatingSystem
	}
	if arch == "" {
		arch = node.Status.NodeInfo.Architecture
	}
	if os == "" || arch == "" {
		return v1.Platform{}, false
	}
	return v1.Platform{OS: os, Architecture: arch}, true
}
