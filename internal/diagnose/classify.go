// Package diagnose explains why a container is stuck pulling its image: it
// reads what the kubelet and the container runtime said (the waiting reason
// and the Failed events' messages), classifies it into the causes of the
// field guide, and joins that with what pullguard's own resolution of the
// image says, so the verdict says whether the cause is in the registry or
// on the node, and how to fix it.
package diagnose

import (
	"regexp"
	"strings"

	"github.com/pullguard/pullguard/internal/image"
)

// Cause is why a pull failed. The registry-side causes are the admission
// finding classes; the others live on the node.
type Cause string

// The causes. Those that are admission classes keep the class's name, so a
// diagnosis and an admission finding name a problem alike.
const (
	InvalidReference = Cause(image.InvalidReference)
	NotFound         = Cause(image.NotFound)
	Unauthorized     = Cause(image.Unauthorized)
	Forbidden        = Cause(image.Forbidden)
	RateLimited      = Cause(image.RateLimited)
	Unreachable      = Cause(image.Unreachable)
	PlatformMismatch = Cause(image.PlatformMismatch)

	// DiskPressure: the node has no room for the image.
	DiskPressure Cause = "DiskPressure"
	// CorruptedContent: what the node downloaded or holds does not unpack
	// or does not match its digest.
	CorruptedContent Cause = "CorruptedContent"
	// NodeNetwork: the node cannot reach a registry that pullguard reaches
	// (its DNS, proxy, firewall or CA).
	NodeNetwork Cause = "NodeNetwork"
	// NodeCredentials: the node was refused with credentials that work from
	// pullguard, or lacks credentials only the node would have (a
	// credential provider, the node's docker config).
	NodeCredentials Cause = "NodeCredentials"
	// ExecFormat: the image pulled, but its binaries are for another
	// architecture, so the container fails to start.
	ExecFormat Cause = "ExecFormat"
	// NotPresent: imagePullPolicy Never and the node does not hold the image.
	NotPresent Cause = "NotPresent"
	// Unknown: nothing the kubelet said fits a known cause.
	Unknown Cause = "Unknown"
)

// Symptom is what one message of the kubelet or the runtime says.
type Symptom struct {
	Cause Cause
	// Detail is the part of the message that says it, for evidence
	// ("no basic auth credentials", "no space left on device").
	Detail string
	// Network marks an Unreachable that is a network failure (DNS,
	// connection, TLS, timeout): on the node's side when pullguard reaches
	// the registry.
	Network bool
	// Expired marks an Unauthorized whose token expired.
	Expired bool
	// Remote marks CorruptedContent the registry does not have (rather
	// than content the node holds damaged).
	Remote bool
}

// rule is one message pattern. The formats come from the runtimes'
// sources and real nodes: containerd 2.x (core/remotes/docker resolver and
// fetcher, internal/cri image pull, core/unpack), CRI-O through
// containers/image (docker/docker_image_src.go, manifest/list.go,
// docker/errors.go), cri-dockerd through the Docker daemon
// (distribution/errors.go, "Error response from daemon"), and the kubelet
// (pkg/kubelet/images: ErrImageNeverPull, InvalidImageName); the
// containerd ones are quoted verbatim in REALNODE.md.
type rule struct {
	cause   Cause
	network bool
	expired bool
	remote  bool
	re      *regexp.Regexp
}

// rules are tried in order: the specific before the general (a digest
// mismatch also says "failed to pull", an expired token also says 401).
var rules = []rule{
	// The kubelet itself.
	{cause: InvalidReference, re: re(`couldn't parse image name|invalid reference format|InvalidImageName`)},
	{cause: NotPresent, re: re(`is not present with pull policy of Never|ErrImageNeverPull`)},
	// At start: the image pulled, the binaries are for another architecture.
	{cause: ExecFormat, re: re(`exec format error`)},
	// Disk.
	{cause: DiskPressure, re: re(`no space left on device|disk quota exceeded|DiskPressure|low on resource: ephemeral-storage`)},
	// Content the registry lacks though the image names it (an index
	// entry, a config or a layer deleted or never pushed): containerd's
	// fetcher says it did not find it at the remote.
	{cause: CorruptedContent, remote: true, re: re(`could not fetch content descriptor .* from remote: not found|content at https?://\S+ not found`)},
	// Corrupted content: containerd's unpack and commit, containers/image's
	// digest checks, Docker's layer extraction.
	{cause: CorruptedContent, re: re(`failed to extract layer|unexpected commit digest|digest did not match|does not match (the )?expected digest|content digest .* not found|failed to unpack|archive/tar: invalid tar header|gzip: invalid header|unexpected EOF|layer .* does not exist|content at .* not found|could not fetch content descriptor`)},
	// Platform: an index without the node's platform.
	{cause: PlatformMismatch, re: re(`no match for platform in manifest|no matching manifest for \S+ in the manifest list|no image found in (manifest list|image index) for architecture|does not match the specified platform`)},
	// Rate limits (Docker Hub's own words, and the status).
	{cause: RateLimited, re: re(`toomanyrequests|too many requests|429 Too Many Requests|pull rate limit`)},
	// Expired tokens (ECR's, and the generic).
	{cause: Unauthorized, expired: true, re: re(`authorization token has expired|token (is )?expired|expired token|Your authorization token has expired`)},
	// "pull access denied ... may require authorization" is how runtimes
	// report a 401 (Docker Hub answers it for a repository that does not
	// exist, too): before the plain refusals of access.
	{cause: Unauthorized, re: re(`401 Unauthorized|no basic auth credentials|authorization failed|unauthorized: |authentication required|pull access denied|may require (authorization|'docker login')|incorrect username or password`)},
	{cause: Forbidden, re: re(`403 Forbidden|requested access to the resource is denied|insufficient_scope`)},
	// Not found: containerd's "...: not found", containers/image's
	// "manifest unknown", Docker's "manifest for X not found".
	{cause: NotFound, re: re(`manifest unknown|name unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|repository name not known|failed to resolve (image|reference)[^:]*: \S+: not found|manifest for \S+ not found|code = NotFound|: not found$|not found: manifest unknown`)},
	// Network, the most telling first: DNS, the proxy, TLS, time, the
	// connection.
	{cause: Unreachable, network: true, re: re(`no such host|server misbehaving`)},
	{cause: Unreachable, network: true, re: re(`proxyconnect`)},
	{cause: Unreachable, network: true, re: re(`x509: [^:]*|certificate signed by unknown authority|certificate is not valid|tls: [^:]*|http: server gave HTTP response to HTTPS client`)},
	{cause: Unreachable, network: true, re: re(`i/o timeout|context deadline exceeded|Client.Timeout exceeded|TLS handshake timeout`)},
	{cause: Unreachable, network: true, re: re(`connection refused|connection reset( by peer)?|network is unreachable|no route to host|dial tcp|EOF$`)},
	// Registry-side errors that are not the image's fault.
	{cause: Unreachable, re: re(`50[0-9] (Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)|unexpected status code 5[0-9][0-9]`)},
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(`(?i)(` + s + `)`) }

// Classify reads one message of the kubelet or runtime (an event's, or a
// container's waiting message) into a symptom. A message that fits no rule
// is Unknown.
func Classify(message string) Symptom {
	m := strings.TrimSpace(message)
	for _, r := range rules {
		if loc := r.re.FindStringIndex(m); loc != nil {
			return Symptom{Cause: r.cause, Detail: m[loc[0]:loc[1]], Network: r.network, Expired: r.expired, Remote: r.remote}
		}
	}
	return Symptom{Cause: Unknown}
}
