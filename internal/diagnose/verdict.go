package diagnose

import (
	"fmt"
	"net"
	"strings"

	"github.com/pullguard/pullguard/internal/image"
)

// Where a cause lives.
const (
	InRegistry = "registry"
	OnNode     = "node"
)

// The waiting reasons of a container stuck on its image (the kubelet's
// pkg/kubelet/images errors), and the crash reasons an image of the wrong
// architecture leads to.
var stuckReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "ImageInspectError": true, "RegistryUnavailable": true,
	"SignatureValidationFailed": true,
}

// Stuck reports whether a container in this state is stuck on its image:
// waiting for a pull, or restarting after an exec format error.
func Stuck(waitingReason string, execFormat bool) bool {
	return stuckReasons[waitingReason] || execFormat
}

// Inputs are the two views of one container: what the node said, and what
// pullguard's own resolution found.
type Inputs struct {
	Namespace, Pod, Node, Container, Image string
	// State is the waiting reason ("ImagePullBackOff"), or the crash the
	// container restarts from ("CrashLoopBackOff").
	State string
	// Messages are what the kubelet said, most telling first: the waiting
	// message, then the Failed events' messages, newest first.
	Messages []string
	// Events are the event lines shown as evidence ("Failed (x4, 2m ago): ...").
	Events []string
	// DiskPressure: the node's DiskPressure condition is True.
	DiskPressure bool
	// Finding is what pullguard's resolution of the image (the pod's
	// credentials, the node's platform) found wrong; nil when it found the
	// image fine. Unresolved says pullguard could not ask at all.
	Finding *Finding
	// Credentials names the pull secrets tried and why any was skipped.
	Credentials []string
	// ServiceAccount is the pod's service account, for fixes.
	ServiceAccount string
}

// Finding is the admission finding for the container, as pullguard's
// engine decides it.
type Finding struct {
	Class   Cause
	Message string
	Fix     string
}

// Verdict is the diagnosis of one container.
type Verdict struct {
	Container string   `json:"container"`
	Image     string   `json:"image"`
	State     string   `json:"state"`
	Cause     Cause    `json:"cause"`
	Where     string   `json:"where"`
	Evidence  []string `json:"evidence"`
	Fix       string   `json:"fix"`
}

// Judge puts the two views together: a registry-side finding explains the
// failure from the registry; when pullguard pulls the image fine with the
// pod's own credentials for the node's platform, the cause is on the node,
// and the kubelet's words say which.
func Judge(in Inputs) Verdict {
	v := Verdict{Container: in.Container, Image: in.Image, State: in.State, Evidence: append([]string(nil), in.Events...)}
	if in.Finding != nil && in.Finding.Message != "" {
		v.Evidence = append(v.Evidence, "pullguard: "+in.Finding.Message)
	}
	if len(in.Credentials) > 0 {
		v.Evidence = append(v.Evidence, "pull secrets: "+strings.Join(in.Credentials, ", "))
	}
	symptom := Symptom{Cause: Unknown}
	for _, m := range in.Messages {
		if s := Classify(m); s.Cause != Unknown {
			symptom = s
			break
		}
	}
	if in.DiskPressure && (symptom.Cause == Unknown || symptom.Cause == DiskPressure) {
		symptom = Symptom{Cause: DiskPressure, Detail: "node condition DiskPressure is True"}
	}
	switch symptom.Cause {
	case NotPresent:
		v.Cause, v.Where = NotPresent, OnNode
		v.Fix = fmt.Sprintf("imagePullPolicy is Never and node %s does not hold the image: load it onto the node (ctr -n k8s.io images import), or set imagePullPolicy: IfNotPresent", in.Node)
		return v
	case DiskPressure:
		v.Cause, v.Where = DiskPressure, OnNode
		v.Fix = fmt.Sprintf("free disk on node %s: remove unused images (crictl rmi --prune on the node), check kubectl describe node %s | grep -A5 Conditions", in.Node, in.Node)
		return v
	case CorruptedContent:
		v.Cause, v.Where = CorruptedContent, OnNode
		switch {
		case in.Finding != nil && in.Finding.Class == NotFound:
			// The registry lacks content it promises: the image is broken there.
			v.Cause, v.Where, v.Fix = CorruptedContent, InRegistry, "the image is broken in the registry: re-push it; "+in.Finding.Fix
			return v
		case in.Finding != nil && in.Finding.Class == PlatformMismatch:
			// containerd found no config for the node's platform because it
			// fetched no build for it (an index of only compatible builds,
			// which the transfer service does not fetch): the platform is
			// the cause, not the node's store.
			v.Cause, v.Where, v.Fix = PlatformMismatch, InRegistry, in.Finding.Fix
			return v
		case symptom.Remote:
			v.Where = InRegistry
			v.Fix = fmt.Sprintf("the registry does not have content the image names (%s): the image is broken in the registry; push it again from a complete copy", symptom.Detail)
			return v
		}
		v.Fix = fmt.Sprintf("the node's copy is damaged or the download was cut: on node %s remove it (crictl rmi %s) and let the kubelet pull again; if it recurs, check the node's disk and the network path to the registry", in.Node, in.Image)
		return v
	}
	if in.Finding != nil && in.Finding.Class != "" {
		v.Cause, v.Where, v.Fix = in.Finding.Class, InRegistry, in.Finding.Fix
		if in.Finding.Class == Unreachable && !symptom.Network && symptom.Cause != Unknown && symptom.Cause != Unreachable {
			// pullguard cannot reach it; the node got further: trust the node.
			v.Cause = symptom.Cause
		}
		if symptom.Cause == ExecFormat {
			v.Cause = ExecFormat
		}
		return v
	}
	// pullguard resolves the image fine from where it runs, with the pod's
	// credentials, for the node's platform: the node is where it fails.
	v.Where = OnNode
	switch symptom.Cause {
	case Unreachable:
		v.Cause = NodeNetwork
		if !symptom.Network {
			v.Cause, v.Where = Unreachable, InRegistry
			v.Fix = "the registry answered the node with a server error; it answers pullguard now, so the kubelet's next retry may pull: watch kubectl get pod " + in.Pod + " -n " + in.Namespace + " -w"
			return v
		}
		reg := "REGISTRY"
		if ref, err := image.Parse(in.Image); err == nil {
			reg = ref.Registry
		}
		host := reg
		if h, _, err := net.SplitHostPort(reg); err == nil {
			host = h
		}
		v.Fix = fmt.Sprintf("the registry answers pullguard but not node %s (%s): on the node check DNS (nslookup %s), the path (curl -v https://%s/v2/), "+
			"a proxy (containerd's HTTPS_PROXY), the CA (containerd's certs.d/%s/hosts.toml), then crictl pull %s", in.Node, symptom.Detail, host, reg, reg, in.Image)
	case Unauthorized, Forbidden:
		v.Cause = NodeCredentials
		v.Fix = fmt.Sprintf("the pod's credentials work from pullguard, so the node pulled with others or with an older copy: delete the pod so the kubelet retries with the current secret (kubectl delete pod %s -n %s); check the node's credential provider and docker config", in.Pod, in.Namespace)
		if symptom.Expired {
			v.Fix = "the node's registry token expired (ECR tokens last 12 hours): renew the pull secret or let the kubelet's credential provider refresh it, then delete the pod so it retries"
		}
	case RateLimited:
		v.Cause = RateLimited
		v.Fix = "the node's address hit the registry's pull limit (Docker Hub: 100 pulls per 6 hours per IP, anonymous): add a pull secret with an account (kubectl create secret docker-registry dockerhub-auth --docker-server=docker.io --docker-username=USER --docker-password=TOKEN -n " + in.Namespace + "), or pull through a mirror"
	case ExecFormat:
		v.Cause, v.Where = ExecFormat, InRegistry
		v.Fix = "the image's binaries are for another architecture than its config says: rebuild it for the node's platform (docker buildx build --platform linux/amd64,linux/arm64 --push)"
	case PlatformMismatch:
		v.Cause = PlatformMismatch
		v.Fix = fmt.Sprintf("the image has a build for the platform node %s is labelled with, but the node's runtime matched none: compare kubectl get node %s -o jsonpath='{.status.nodeInfo.architecture}' with its kubernetes.io/arch label", in.Node, in.Node)
	case NotFound:
		v.Cause = NotFound
		v.Fix = fmt.Sprintf("the registry has the image now: if it was pushed since, the kubelet's next retry pulls it; if node %s pulls through a mirror (containerd's certs.d hosts.toml), the mirror lacks it", in.Node)
	case InvalidReference:
		v.Cause, v.Where = InvalidReference, InRegistry
		v.Fix = "write the image as [registry/]repository[:tag][@sha256:digest], repository in lower case"
	default:
		v.Cause = Unknown
		v.Fix = fmt.Sprintf("pullguard pulls the image fine; read the kubelet's events (kubectl get events -n %s --field-selector involvedObject.name=%s) and try crictl pull %s on node %s", in.Namespace, in.Pod, in.Image, in.Node)
	}
	return v
}
