package cluster

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Nodes are the Ready nodes the pod may be scheduled on (CandidateNodes),
// with their platforms and the images they hold. Nil when none qualifies,
// which skips platform and node-image checks.
func (v *View) Nodes(ctx context.Context, pod *workload.PodContext) ([]policies.Node, error) {
	var nodes corev1.NodeList
	// The nodes are only read, and copying every node for every admission
	// would dominate the cost in a large cluster.
	if err := v.reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return CandidateNodes(log.FromContext(ctx), nodes.Items, pod), nil
}

// CandidateNodes are the Ready nodes the pod may be scheduled on: its
// nodeSelector and required node affinity match the node (the scheduler's
// own matching, from k8s.io/component-helpers, so every operator and
// matchFields behave as they do there), and it tolerates the node's
// NoSchedule and NoExecute taints (a cordoned node carries
// node.kubernetes.io/unschedulable). A nil pod selects nothing and
// tolerates nothing. The serve cluster view and `pullguard check` (with
// SyntheticNode) both decide through it. The result shares the nodes'
// image lists.
func CandidateNodes(logger logr.Logger, nodes []corev1.Node, pod *workload.PodContext) []policies.Node {
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
	var out []policies.Node
	for i := range nodes {
		node := &nodes[i]
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
		if n, ok := NodeOf(node); ok {
			out = append(out, n)
		}
	}
	return out
}

// NodeOf is what policies need of node: its name, the platform containerd
// matches images against there, and the images it lists. It reports false
// for a node whose platform is unknown. It applies none of the scheduler's
// filters: `pullguard diagnose` asks it for the node a pod is bound to.
func NodeOf(node *corev1.Node) (policies.Node, bool) {
	p, ok := platformOf(node)
	if !ok {
		return policies.Node{}, false
	}
	return policies.Node{
		Name:        node.Name,
		Platform:    p,
		Images:      node.Status.Images,
		ImagesKnown: !synthetic(node),
	}, true
}

// syntheticAnnotation marks the nodes SyntheticNode builds: they hold no
// images anyone knows of.
const syntheticAnnotation = "pullguard.io/synthetic"

// SyntheticNode is a Ready node of platform p, with the labels the kubelet
// gives a real one (kubernetes.io/os, kubernetes.io/arch and, on Windows,
// node.kubernetes.io/windows-build), for `pullguard check --platform`: the
// pod's selectors, affinity and tolerations are then judged by the same
// code as in the cluster. What it holds is unknown.
func SyntheticNode(p v1.Platform) corev1.Node {
	name := image.PlatformName(p)
	labels := map[string]string{
		corev1.LabelOSStable:   p.OS,
		corev1.LabelArchStable: p.Architecture,
		corev1.LabelHostname:   name,
	}
	if p.OSVersion != "" {
		labels[image.WindowsBuildLabel] = p.OSVersion
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{syntheticAnnotation: "true"}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			NodeInfo:   corev1.NodeSystemInfo{OperatingSystem: p.OS, Architecture: p.Architecture},
		},
	}
}

func synthetic(node *corev1.Node) bool {
	return node.Annotations[syntheticAnnotation] == "true"
}

// schedulingTaint selects the taints that keep a pod off a node;
// PreferNoSchedule only lowers a node's score.
func schedulingTaint(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

func ready(node *corev1.Node) bool {
	return ConditionTrue(node, corev1.NodeReady)
}

// ConditionTrue reports whether the node's condition t is True; a condition
// the node does not report is not.
func ConditionTrue(node *corev1.Node, t corev1.NodeConditionType) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// platformOf is the platform containerd matches images against on the
// node: os/arch from its well-known labels (what nodeSelectors and
// pullguard's own affinity use), falling back to what the kubelet reports in
// status.nodeInfo, and the Windows build from its label.
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
	return image.NodePlatform(os, arch, node.Labels[image.WindowsBuildLabel]), true
}
