package policies

import (
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/image"
)

// The kubelet's limits on node.status.images (k8s.io/kubernetes
// pkg/kubelet/nodestatus setters.go Images, and the default of
// nodeStatusMaxImages): the largest 50 images, each with at most 5 names,
// digests first. A list at either limit may leave out what the node holds.
const (
	statusMaxImages      = 50
	statusMaxNamesPerImg = 5
)

// Node is a node the pod may be scheduled on: the scheduler's filters
// (nodeSelector, required node affinity, taints) let it through. Callers
// compute it (the cluster view from the informer cache, `pullguard check`
// from --platform); Evaluate only reads it.
type Node struct {
	Name string
	// Platform is what containerd matches images against on the node
	// (image.NodePlatform of its labels).
	Platform v1.Platform
	// Images is the node's status.images; it is shared, never modified.
	Images []corev1.ContainerImage
	// ImagesKnown is false when nothing is known of what the node holds (a
	// synthetic node of `pullguard check`).
	ImagesKnown bool
}

// holding says whether the node holds the image the kubelet looks up under
// name (image.Reference.LocalName): yes, no, or unknown when the node's
// list is absent or truncated and does not name it.
func (n Node) holding(name string) (holds, known bool) {
	if !n.ImagesKnown {
		return false, false
	}
	truncated := len(n.Images) >= statusMaxImages
	for _, img := range n.Images {
		if slices.Contains(img.Names, name) {
			return true, true
		}
		if len(img.Names) >= statusMaxNamesPerImg {
			truncated = true
		}
	}
	return false, !truncated
}

// NodePlatforms are the distinct platforms of nodes, in order: those a pod
// on them may pull for.
func NodePlatforms(nodes []Node) []v1.Platform {
	var out []v1.Platform
	for _, n := range nodes {
		if n.Platform.OS == "" || n.Platform.Architecture == "" {
			continue
		}
		if !slices.ContainsFunc(out, func(p v1.Platform) bool { return image.SamePlatform(p, n.Platform) }) {
			out = append(out, n.Platform)
		}
	}
	return out
}

// holders sorts the nodes into those that hold the image and those not
// known to lack it.
type holders struct {
	have, unknown, lack []string
}

func holdersOf(nodes []Node, name string) holders {
	var h holders
	for _, n := range nodes {
		switch holds, known := n.holding(name); {
		case holds:
			h.have = append(h.have, n.Name)
		case !known:
			h.unknown = append(h.unknown, n.Name)
		default:
			h.lack = append(h.lack, n.Name)
		}
	}
	return h
}
