package policies

import (
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/workload"
)

// The node labels that carry a node's platform (and their deprecated beta
// names, which old manifests still select on).
var (
	osLabels   = []string{corev1.LabelOSStable, "beta.kubernetes.io/os"}
	archLabels = []string{corev1.LabelArchStable, "beta.kubernetes.io/arch"}
)

// CandidatePlatforms narrows the platforms of the cluster's nodes to those the
// pod may be scheduled on, judged by its nodeSelector and required node
// affinity on the os and arch labels: terms are ORed, expressions within a
// term ANDed, and In, NotIn, Exists and DoesNotExist understood. Selection on
// any other label cannot be judged from platforms alone and restricts
// nothing, so an image is never rejected for a node the pod could not use
// anyway. Duplicates are dropped; the result never aliases nodes.
func CandidatePlatforms(nodes []v1.Platform, pod *workload.PodContext) []v1.Platform {
	var out []v1.Platform
	for _, n := range nodes {
		if pod != nil && !podAllows(pod, n) {
			continue
		}
		if slices.ContainsFunc(out, n.Equals) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func podAllows(pod *workload.PodContext, n v1.Platform) bool {
	for k, v := range pod.NodeSelector {
		if have, ok := platformLabel(n, k); ok && have != v {
			return false
		}
	}
	aff := pod.RequiredNodeAffinity
	if aff == nil {
		return true
	}
	// An empty list of terms matches no node in the scheduler; the API
	// server rejects it, so treat it as no constraint rather than as "nowhere".
	if len(aff.NodeSelectorTerms) == 0 {
		return true
	}
	return slices.ContainsFunc(aff.NodeSelectorTerms, func(t corev1.NodeSelectorTerm) bool {
		return termAllows(t, n)
	})
}

// termAllows is one nodeSelectorTerm. A term with no requirements matches no
// node, as in the scheduler.
func termAllows(t corev1.NodeSelectorTerm, n v1.Platform) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, e := range t.MatchExpressions {
		have, ok := platformLabel(n, e.Key)
		if !ok {
			continue
		}
		if !requirementAllows(e, have) {
			return false
		}
	}
	return true
}

// requirementAllows evaluates one expression on a label every node has.
func requirementAllows(e corev1.NodeSelectorRequirement, have string) bool {
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		return slices.Contains(e.Values, have)
	case corev1.NodeSelectorOpNotIn:
		return !slices.Contains(e.Values, have)
	case corev1.NodeSelectorOpExists:
		return true
	case corev1.NodeSelectorOpDoesNotExist:
		return false
	default:
		// Gt and Lt need integers; os and arch never are.
		return false
	}
}

// platformLabel is the value a node of platform n has for a platform label.
func platformLabel(n v1.Platform, key string) (string, bool) {
	switch {
	case slices.Contains(osLabels, key):
		return n.OS, true
	case slices.Contains(archLabels, key):
		return n.Architecture, true
	}
	return "", false
}

// supported are the candidates some image platform satisfies. Satisfies is
// variant-aware: a linux/arm64 node runs a linux/arm64/v8 image.
func supported(candidates, image []v1.Platform) []v1.Platform {
	var out []v1.Platform
	for _, c := range candidates {
		if slices.ContainsFunc(image, func(i v1.Platform) bool { return i.Satisfies(c) }) {
			out = append(out, c)
		}
	}
	return out
}
