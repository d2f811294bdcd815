package webhook

import (
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// nodeSelectorOf is the pod's required node affinity, or nil.
func nodeSelectorOf(a *corev1.Affinity) *corev1.NodeSelector {
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// requirePlatforms ANDs "runs on one of platforms" into sel: node selector
// terms are ORed, so every existing term gets the os/arch requirements (or
// one term is created). It reports whether anything changed: a selector
// that already carries the requirements in every term is returned as is,
// which keeps mutation idempotent.
func requirePlatforms(sel *corev1.NodeSelector, platforms []v1.Platform) (*corev1.NodeSelector, bool) {
	wanted := platformTerms(platforms)
	if len(wanted) == 0 {
		return sel, false
	}
	terms := []corev1.NodeSelectorTerm{{}}
	if sel != nil && len(sel.NodeSelectorTerms) > 0 {
		terms = sel.NodeSelectorTerms
	}
	out := &corev1.NodeSelector{}
	for _, t := range terms {
		for _, w := range wanted {
			merged := *t.DeepCopy()
			for _, r := range w {
				if !slices.ContainsFunc(merged.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
					return equality.Semantic.DeepEqual(e, r)
				}) {
					merged.MatchExpressions = append(merged.MatchExpressions, r)
				}
			}
			if !slices.ContainsFunc(out.NodeSelectorTerms, func(e corev1.NodeSelectorTerm) bool {
				return equality.Semantic.DeepEqual(e, merged)
			}) {
				out.NodeSelectorTerms = append(out.NodeSelectorTerms, merged)
			}
		}
	}
	if sel != nil && equality.Semantic.DeepEqual(sel.NodeSelectorTerms, out.NodeSelectorTerms) {
		return sel, false
	}
	return out, true
}

// platformTerms are the requirements that admit exactly platforms' os/arch
// pairs (node labels have no variant): one term when every OS has the same
// architectures, else one per OS. Values are sorted, so the same platforms
// always give the same terms.
func platformTerms(platforms []v1.Platform) [][]corev1.NodeSelectorRequirement {
	arches := map[string][]string{}
	var oses []string
	for _, p := range platforms {
		if p.OS == "" || p.Architecture == "" {
			continue
		}
		if _, ok := arches[p.OS]; !ok {
			oses = append(oses, p.OS)
		}
		if !slices.Contains(arches[p.OS], p.Architecture) {
			arches[p.OS] = append(arches[p.OS], p.Architecture)
		}
	}
	if len(oses) == 0 {
		return nil
	}
	slices.Sort(oses)
	same := true
	for _, os := range oses {
		slices.Sort(arches[os])
		same = same && slices.Equal(arches[os], arches[oses[0]])
	}
	term := func(oses, arches []string) []corev1.NodeSelectorRequirement {
		return []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: oses},
			{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: arches},
		}
	}
	if same {
		return [][]corev1.NodeSelectorRequirement{term(oses, arches[oses[0]])}
	}
	out := make([][]corev1.NodeSelectorRequirement, 0, len(oses))
	for _, os := range oses {
		out = append(out, term([]string{os}, arches[os]))
	}
	return out
}
