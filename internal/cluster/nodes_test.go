package cluster_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

type nodeSpec struct {
	name     string
	os, arch string // labels; "" leaves the label out
	info     string // status.nodeInfo "os/arch", when the labels are absent
	ready    corev1.ConditionStatus
	labels   map[string]string
	taints   []corev1.Taint
}

func (n nodeSpec) node() *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{}}}
	for k, val := range n.labels {
		node.Labels[k] = val
	}
	if n.os != "" {
		node.Labels[corev1.LabelOSStable] = n.os
	}
	if n.arch != "" {
		node.Labels[corev1.LabelArchStable] = n.arch
	}
	if n.info != "" {
		node.Status.NodeInfo.OperatingSystem, node.Status.NodeInfo.Architecture, _ = strings.Cut(n.info, "/")
	}
	if n.ready != "" {
		node.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: n.ready},
		}
	}
	node.Spec.Taints = n.taints
	return node
}

func plats(ss ...string) []v1.Platform {
	var out []v1.Platform
	for _, s := range ss {
		os, arch, _ := strings.Cut(s, "/")
		out = append(out, v1.Platform{OS: os, Architecture: arch})
	}
	return out
}

func affinity(terms ...corev1.NodeSelectorTerm) *corev1.NodeSelector {
	return &corev1.NodeSelector{NodeSelectorTerms: terms}
}

func labelTerm(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestPlatforms(t *testing.T) {
	t.Parallel()
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	nodes := []nodeSpec{
		{name: "amd-a", os: "linux", arch: "amd64", ready: T, labels: map[string]string{"zone": "a", "disktype": "ssd"}},
		{name: "arm-b", os: "linux", arch: "arm64", ready: T, labels: map[string]string{"zone": "b", "gpus": "4"}},
		{name: "amd-c", os: "linux", arch: "amd64", ready: T, labels: map[string]string{"zone": "c"}},
		{name: "win", os: "windows", arch: "amd64", ready: T, labels: map[string]string{"zone": "a"},
			taints: []corev1.Taint{{Key: "os", Value: "windows", Effect: corev1.TaintEffectNoSchedule}}},
		{name: "infra", os: "linux", arch: "ppc64le", ready: T, labels: map[string]string{"zone": "b"},
			taints: []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoExecute}}},
		{name: "soft", os: "linux", arch: "arm", ready: T,
			taints: []corev1.Taint{{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}},
		{name: "unlabelled", info: "linux/riscv64", ready: T},
		{name: "down", os: "linux", arch: "s390x", ready: F, labels: map[string]string{"zone": "a"}},
		{name: "unknown", os: "linux", arch: "mips64le", ready: corev1.ConditionUnknown},
		{name: "new", os: "linux", arch: "loong64"}, // no conditions yet
		{name: "cordoned", os: "freebsd", arch: "amd64", ready: T,
			taints: []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}},
	}
	var objs []client.Object
	for _, n := range nodes {
		objs = append(objs, n.node())
	}
	v := newView(t, fakeReader(objs...), cluster.Options{})

	tests := []struct {
		name string
		pod  *workload.PodContext
		want []v1.Platform
	}{
		{name: "nil pod: Ready, untainted nodes", want: plats("linux/amd64", "linux/arm", "linux/arm64", "linux/riscv64")},
		{name: "empty pod", pod: &workload.PodContext{}, want: plats("linux/amd64", "linux/arm", "linux/arm64", "linux/riscv64")},
		{name: "nodeSelector", pod: &workload.PodContext{NodeSelector: map[string]string{"zone": "b"}}, want: plats("linux/arm64")},
		{name: "nodeSelector on arch", pod: &workload.PodContext{NodeSelector: map[string]string{corev1.LabelArchStable: "amd64"}}, want: plats("linux/amd64")},
		{name: "nodeSelector matching nothing", pod: &workload.PodContext{NodeSelector: map[string]string{"zone": "z"}}},
		{name: "nodeSelector only matching NotReady", pod: &workload.PodContext{NodeSelector: map[string]string{corev1.LabelArchStable: "s390x"}}},
		{name: "In", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("zone", corev1.NodeSelectorOpIn, "a", "b"))},
			want: plats("linux/amd64", "linux/arm64")},
		{name: "NotIn (nodes without the label match)", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("zone", corev1.NodeSelectorOpNotIn, "a", "b"))},
			want: plats("linux/amd64", "linux/arm", "linux/riscv64")},
		{name: "Exists", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("disktype", corev1.NodeSelectorOpExists))},
			want: plats("linux/amd64")},
		{name: "DoesNotExist", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("zone", corev1.NodeSelectorOpDoesNotExist))},
			want: plats("linux/arm", "linux/riscv64")},
		{name: "Gt", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("gpus", corev1.NodeSelectorOpGt, "2"))},
			want: plats("linux/arm64")},
		{name: "Gt above every node", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("gpus", corev1.NodeSelectorOpGt, "4"))}},
		{name: "Lt", pod: &workload.PodContext{RequiredNodeAffinity: affinity(labelTerm("gpus", corev1.NodeSelectorOpLt, "8"))},
			want: plats("linux/arm64")},
		{name: "matchFields on the node name", pod: &workload.PodContext{RequiredNodeAffinity: affinity(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"unlabelled"}}},
		})}, want: plats("linux/riscv64")},
		{name: "terms are ORed", pod: &workload.PodContext{RequiredNodeAffinity: affinity(
			labelTerm("zone", corev1.NodeSelectorOpIn, "b"), labelTerm("disktype", corev1.NodeSelectorOpExists),
		)}, want: plats("linux/amd64", "linux/arm64")},
		{name: "expressions of a term are ANDed", pod: &workload.PodContext{RequiredNodeAffinity: affinity(corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "c"}},
				{Key: "disktype", Operator: corev1.NodeSelectorOpDoesNotExist},
			},
		})}, want: plats("linux/amd64")},
		{name: "nodeSelector and affinity both apply", pod: &workload.PodContext{
			NodeSelector:         map[string]string{"zone": "a"},
			RequiredNodeAffinity: affinity(labelTerm("disktype", corev1.NodeSelectorOpDoesNotExist)),
		}},
		{name: "toleration of a NoSchedule taint", pod: &workload.PodContext{Tolerations: []corev1.Toleration{
			{Key: "os", Operator: corev1.TolerationOpEqual, Value: "windows", Effect: corev1.TaintEffectNoSchedule},
		}}, want: plats("linux/amd64", "linux/arm", "linux/arm64", "linux/riscv64", "windows/amd64")},
		{name: "toleration with another value does not tolerate", pod: &workload.PodContext{Tolerations: []corev1.Toleration{
			{Key: "os", Operator: corev1.TolerationOpEqual, Value: "linux", Effect: corev1.TaintEffectNoSchedule},
		}}, want: plats("linux/amd64", "linux/arm", "linux/arm64", "linux/riscv64")},
		{name: "toleration of a NoExecute taint by Exists", pod: &workload.PodContext{Tolerations: []corev1.Toleration{
			{Key: "dedicated", Operator: corev1.TolerationOpExists},
		}}, want: plats("linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/riscv64")},
		{name: "tolerate everything: still only Ready nodes", pod: &workload.PodContext{Tolerations: []corev1.Toleration{
			{Operator: corev1.TolerationOpExists},
		}}, want: plats("freebsd/amd64", "linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/riscv64", "windows/amd64")},
		{name: "selector plus toleration", pod: &workload.PodContext{
			NodeSelector: map[string]string{corev1.LabelOSStable: "windows"},
			Tolerations:  []corev1.Toleration{{Key: "os", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		}, want: plats("windows/amd64")},
		{name: "selector on a tainted node without toleration", pod: &workload.PodContext{NodeSelector: map[string]string{corev1.LabelOSStable: "windows"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nodes, err := v.Nodes(context.Background(), tt.pod)
			if err != nil {
				t.Fatalf("Nodes: %v", err)
			}
			if diff := cmp.Diff(tt.want, distinctPlatforms(nodes), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("platforms of Nodes (-want +got):\n%s", diff)
			}
		})
	}
}

// distinctPlatforms are the nodes' platforms, sorted, without repeats.
func distinctPlatforms(nodes []policies.Node) []v1.Platform {
	seen := map[string]v1.Platform{}
	for _, n := range nodes {
		seen[n.Platform.OS+"/"+n.Platform.Architecture] = n.Platform
	}
	var out []v1.Platform
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, seen[k])
	}
	return out
}

func TestNodesWithoutNodes(t *testing.T) {
	t.Parallel()
	v := newView(t, fakeReader(), cluster.Options{})
	got, err := v.Nodes(context.Background(), &workload.PodContext{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("Nodes = %v, want none", got)
	}
}

// A node's name, Windows build and images reach the policy; synthetic nodes
// say that what they hold is unknown.
func TestNodesCarryImagesAndWindowsBuild(t *testing.T) {
	t.Parallel()
	images := []corev1.ContainerImage{{Names: []string{"docker.io/library/nginx:1.27"}}}
	win := nodeSpec{name: "win", os: "windows", arch: "amd64", ready: corev1.ConditionTrue,
		labels: map[string]string{image.WindowsBuildLabel: "10.0.20348"}}.node()
	win.Status.Images = images
	real := cluster.CandidateNodes(logr.Discard(), []corev1.Node{*win}, nil)
	want := []policies.Node{{Name: "win", Images: images, ImagesKnown: true,
		Platform: v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"}}}
	if diff := cmp.Diff(want, real); diff != "" {
		t.Errorf("CandidateNodes (-want +got):\n%s", diff)
	}
	p, err := image.ParsePlatform("windows/amd64:10.0.17763")
	if err != nil {
		t.Fatal(err)
	}
	synth := cluster.CandidateNodes(logr.Discard(), []corev1.Node{cluster.SyntheticNode(p)}, &workload.PodContext{
		NodeSelector: map[string]string{image.WindowsBuildLabel: "10.0.17763"},
	})
	want = []policies.Node{{Name: "windows/amd64:10.0.17763", Platform: p}}
	if diff := cmp.Diff(want, synth); diff != "" {
		t.Errorf("CandidateNodes of a synthetic node (-want +got):\n%s", diff)
	}
}
