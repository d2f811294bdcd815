package workload

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Uses lists the image of every container in spec, in the order the kubelet
// starts them (init, regular, ephemeral), with the JSON pointer of each image
// field below specPointer (the pointer PodSpecOf returned). All uses share one
// PodContext. A nil spec has no uses.
func Uses(spec *corev1.PodSpec, specPointer string) []ImageUse {
	if spec == nil {
		return nil
	}
	n := len(spec.InitContainers) + len(spec.Containers) + len(spec.EphemeralContainers)
	if n == 0 {
		return nil
	}
	pod := contextOf(spec, specPointer)
	uses := make([]ImageUse, 0, n)
	add := func(kind ContainerKind, i int, name, image string, policy corev1.PullPolicy) {
		uses = append(uses, ImageUse{
			Container:  name,
			Kind:       kind,
			Image:      image,
			PullPolicy: policy,
			Pointer:    joinPointer(specPointer, string(kind), strconv.Itoa(i), "image"),
			Pod:        pod,
		})
	}
	for i, c := range spec.InitContainers {
		add(InitContainer, i, c.Name, c.Image, c.ImagePullPolicy)
	}
	for i, c := range spec.Containers {
		add(Container, i, c.Name, c.Image, c.ImagePullPolicy)
	}
	for i, c := range spec.EphemeralContainers {
		add(EphemeralContainer, i, c.Name, c.Image, c.ImagePullPolicy)
	}
	return uses
}

// contextOf copies what pulling depends on, so callers may keep the
// context after changing (or patching) the object it came from.
func contextOf(spec *corev1.PodSpec, specPointer string) *PodContext {
	pod := &PodContext{
		SpecPointer:        specPointer,
		ServiceAccountName: spec.ServiceAccountName,
		NodeSelector:       maps.Clone(spec.NodeSelector),
		Tolerations:        slices.Clone(spec.Tolerations),
	}
	if pod.ServiceAccountName == "" {
		// The API server copies the deprecated "serviceAccount" into
		// serviceAccountName when the latter is empty (v1 → internal
		// conversion); a manifest read by the CLI has not been through that.
		pod.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	for _, s := range spec.ImagePullSecrets {
		// An empty name refers to no secret; keeping it would only make
		// messages say that secret "" was tried.
		if s.Name != "" {
			pod.ImagePullSecrets = append(pod.ImagePullSecrets, s.Name)
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		pod.RequiredNodeAffinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.DeepCopy()
	}
	return pod
}

// pointerEscaper escapes one reference token as RFC 6901 section 3 demands
// ("~" first, so the "~" of "~1" is not escaped again).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// joinPointer appends reference tokens to a JSON pointer.
func joinPointer(base string, tokens ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}
