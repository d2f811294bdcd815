package image

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

// The pull policies of the Kubernetes API.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// EffectivePullPolicy is the policy the kubelet acts on: written when set,
// else the API server's default (k8s.io/kubernetes pkg/apis/core/v1
// SetDefaults_Container): Always when the tag is "latest", written or
// implied by naming no tag and no digest ("nginx", "nginx:latest",
// "nginx:latest@sha256:…"), else IfNotPresent, a reference that does not
// parse included. Objects in the API server are defaulted already;
// manifests that `pullguard check` reads are not, so both doors apply it.
func EffectivePullPolicy(written string, r Reference) PullPolicy {
	if written != "" {
		return PullPolicy(written)
	}
	if r.Repository != "" && r.Tag == DefaultTag {
		return PullAlways
	}
	return PullIfNotPresent
}

// LocalName is the name the node's container runtime stores the image
// under, and the form node.status.images lists it in: containerd's CRI
// normalizes the reference (reference.ParseDockerRef, which drops the tag
// of a tag+digest reference) and records "repository:tag" or
// "repository@digest"; the kubelet's GetImageRef looks the image up by that
// name.
func (r Reference) LocalName() string {
	if r.Digest != "" {
		return r.Repository + "@" + r.Digest
	}
	return r.Repository + ":" + r.Tag
}
