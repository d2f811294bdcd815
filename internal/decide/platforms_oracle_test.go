package decide_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/internal/fixtures"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// oracleImage is an image of the differential corpus: an index of builds
// (index) or a single manifest whose config names builds[0].
type oracleImage struct {
	tag    string
	index  bool
	builds []v1.Platform
}

// oracleNode is a node as the kubelet labels it.
type oracleNode struct{ os, arch, windowsBuild string }

func (n oracleNode) String() string {
	s := n.os + "/" + n.arch
	if n.windowsBuild != "" {
		s += ":" + n.windowsBuild
	}
	return s
}

// spec is the platform containerd's DefaultSpec gives on that node: no
// variant but on arm (cpuVariant; v7 on nearly every 32-bit arm node), and
// the host's Windows build.
func (n oracleNode) spec() specs.Platform {
	p := specs.Platform{OS: n.os, Architecture: n.arch, OSVersion: n.windowsBuild}
	if n.arch == "arm" {
		p.Variant = "v7"
	}
	return p
}

func (n oracleNode) node() corev1.Node {
	labels := map[string]string{corev1.LabelOSStable: n.os, corev1.LabelArchStable: n.arch}
	if n.windowsBuild != "" {
		labels[image.WindowsBuildLabel] = n.windowsBuild
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node", Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
}

func plat(s string) v1.Platform {
	p, version, _ := strings.Cut(s, ":")
	parts := strings.SplitN(p, "/", 3)
	out := v1.Platform{OS: parts[0], Architecture: parts[1], OSVersion: version}
	if len(parts) == 3 {
		out.Variant = parts[2]
	}
	return out
}

func index(tag string, builds ...string) oracleImage {
	im := oracleImage{tag: tag, index: true}
	for _, b := range builds {
		im.builds = append(im.builds, plat(b))
	}
	return im
}

func single(tag, build string) oracleImage {
	return oracleImage{tag: tag, builds: []v1.Platform{plat(build)}}
}

// The corpus: the nodes a cluster has (labels only say os and arch), and
// images spelled as registries really carry them, aliases, odd case,
// variants and Windows builds included.
var (
	oracleNodes = []oracleNode{
		{os: "linux", arch: "amd64"},
		{os: "linux", arch: "arm64"},
		{os: "linux", arch: "arm"},
		{os: "linux", arch: "386"},
		{os: "linux", arch: "ppc64le"},
		{os: "linux", arch: "s390x"},
		{os: "linux", arch: "riscv64"},
		{os: "windows", arch: "amd64", windowsBuild: "10.0.17763"},
		{os: "windows", arch: "amd64", windowsBuild: "10.0.20348"},
		{os: "windows", arch: "amd64", windowsBuild: "10.0.26100"},
	}
	oracleImages = []oracleImage{
		index("amd64", "linux/amd64"),
		index("arm64", "linux/arm64"),
		index("multi", "linux/amd64", "linux/arm64"),
		index("wide", "linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"),
		index("i386", "linux/386"),
		index("amd64-386", "linux/386", "linux/amd64"),
		index("amd64-v1", "linux/amd64/v1"),
		index("amd64-v2", "linux/amd64/v2"),
		index("amd64-v3", "linux/amd64/v3"),
		index("amd64-v2-v3", "linux/amd64/v2", "linux/amd64/v3"),
		index("amd64-v3-arm64", "linux/amd64/v3", "linux/arm64"),
		index("arm64-v8", "linux/arm64/v8"),
		index("arm64-v8.2", "linux/arm64/v8.2"),
		index("aarch64", "linux/aarch64"),
		index("x86_64", "linux/x86_64"),
		index("upper", "Linux/AMD64"),
		index("armhf", "linux/armhf"),
		index("arm-v7", "linux/arm/v7"),
		index("arm-v6", "linux/arm/v6"),
		index("arm-v5", "linux/arm/v5"),
		index("arm-v6-v7", "linux/arm/v6", "linux/arm/v7"),
		index("arm-plain", "linux/arm"),
		index("riscv64", "linux/riscv64"),
		index("attestations-only"),
		index("win-1809", "windows/amd64:10.0.17763.6893"),
		index("win-2022", "windows/amd64:10.0.20348.3207"),
		index("win-2025", "windows/amd64:10.0.26100.3194"),
		index("win-both", "windows/amd64:10.0.17763.6893", "windows/amd64:10.0.20348.3207"),
		index("win-noversion", "windows/amd64"),
		index("win-linux", "windows/amd64:10.0.20348.3207", "linux/amd64"),
		index("win-386", "windows/386:10.0.20348.3207"),
		single("s-amd64", "linux/amd64"),
		single("s-386", "linux/386"),
		single("s-arm64", "linux/arm64"),
		single("s-arm64-v8", "linux/arm64/v8"),
		single("s-aarch64", "linux/aarch64"),
		single("s-arm-v7", "linux/arm/v7"),
		single("s-arm-v6", "linux/arm/v6"),
		single("s-amd64-v3", "linux/amd64/v3"),
		single("s-x86_64", "linux/x86_64"),
		single("s-riscv64", "linux/riscv64"),
		single("s-win-1809", "windows/amd64:10.0.17763.6893"),
		single("s-win-2022", "windows/amd64:10.0.20348.3207"),
	}
)

// oracleVerdict is what containerd v2.4.2 does, computed with
// containerd/platforms alone (see image/platform.go for where in containerd
// each rule is): the finding pullguard must give, "" for none.
func oracleVerdict(n oracleNode, im oracleImage) policies.Action {
	node := n.spec()
	if im.index {
		var exact, compatible bool
		for _, b := range im.builds {
			s := specs.Platform{OS: b.OS, Architecture: b.Architecture, Variant: b.Variant, OSVersion: b.OSVersion}
			// What the transfer service fetches, and what the local pull
			// and the config lookup accept (on Windows, containerd's
			// Default() is the exact matcher: no 386 there).
			exact = exact || platforms.Ordered(node).Match(s)
			compatible = compatible || platforms.Only(node).Match(s) && n.os != "windows"
		}
		switch {
		case exact:
			return ""
		case compatible:
			return policies.Warn
		}
		return policies.Deny
	}
	b := im.builds[0]
	s := platforms.Normalize(specs.Platform{OS: b.OS, Architecture: b.Architecture, Variant: b.Variant, OSVersion: b.OSVersion})
	nn := platforms.Normalize(node)
	switch {
	case platforms.Only(node).Match(s) && nn.Architecture == "arm64" && s.Architecture == "arm":
		return policies.Warn // pulled and run by AArch32 CPUs only
	case platforms.Only(node).Match(s):
		return ""
	case s.OS == nn.OS && s.Architecture == nn.Architecture && s.OS != "windows":
		return policies.Warn // a higher level of the node's architecture
	}
	return policies.Deny // pulled, then exec format error (or the Windows host mismatch)
}

// oracleLookup is a resolver for reg, which speaks plain HTTP on loopback.
func oracleLookup(reg *registrytest.Registry) resolve.Lookup {
	guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{reg.Host}}
	return resolve.New(resolve.WithTransport(guard.Transport()), resolve.WithInsecureRegistries(reg.Host))
}

// decideOn decides one container of image img, in a pod that may run on
// node, through the cluster view's node computation.
func decideOn(lookup resolve.Lookup, img string, node oracleNode) policies.Decision {
	nodes := []corev1.Node{node.node()}
	use := workload.ImageUse{Container: "c", Kind: workload.Container, Image: img,
		Pointer: "/spec/containers/0/image", Pod: &workload.PodContext{SpecPointer: "/spec"}}
	return decide.Decide(context.Background(), policies.Default(), workload.Object{Kind: "Pod", Namespace: "ns", Name: "p"},
		[]workload.ImageUse{use}, decide.Setting{
			Lookup: lookup,
			Pods:   map[*workload.PodContext]decide.Pod{use.Pod: {Nodes: cluster.CandidateNodes(logr.Discard(), nodes, use.Pod)}},
		})
}

func pushOracleImage(t *testing.T, reg *registrytest.Registry, im oracleImage) {
	t.Helper()
	switch {
	case !im.index:
		reg.PushImage(t, "oracle:"+im.tag, im.builds[0])
	case len(im.builds) == 0:
		// Only an attestation, as a broken buildx push leaves it.
		reg.PushIndex(t, "oracle:"+im.tag)
	default:
		reg.PushIndex(t, "oracle:"+im.tag, im.builds...)
	}
}

// TestPlatformsAgainstContainerd pushes every image of the corpus to an
// in-process registry, resolves it with pullguard's resolver and decides
// each node × image case through Decide, comparing the platform finding with
// what containerd/platforms, used as containerd v2.4.2 uses it, says.
func TestPlatformsAgainstContainerd(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	for _, im := range oracleImages {
		pushOracleImage(t, reg, im)
	}
	lookup := oracleLookup(reg)
	cases := 0
	for _, n := range oracleNodes {
		for _, im := range oracleImages {
			cases++
			t.Run(n.String()+"/"+im.tag, func(t *testing.T) {
				t.Parallel()
				d := decideOn(lookup, reg.Ref("oracle:"+im.tag), n)
				var got policies.Action
				var msgs []string
				for _, f := range d.Findings {
					if f.Class != image.PlatformMismatch {
						t.Errorf("unexpected finding %s %s: %s", f.Class, f.Action, f.Message)
						continue
					}
					if got != policies.Deny {
						got = f.Action
					}
					msgs = append(msgs, string(f.Action)+": "+f.Message)
				}
				if want := oracleVerdict(n, im); got != want {
					t.Errorf("pullguard: %q, containerd: %q\n%s", got, want, strings.Join(msgs, "\n"))
				}
			})
		}
	}
	if cases < 50 {
		t.Fatalf("%d cases, the corpus promises at least 50", cases)
	}
}

// writeIndex pushes an index that fixtures cannot build.
func writeIndex(t *testing.T, reg *registrytest.Registry, repoAndTag string, idx v1.ImageIndex) {
	t.Helper()
	ref, err := name.ParseReference(reg.Ref(repoAndTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
}

// An index with no entries at all pulls nowhere.
func TestEmptyIndexHasNoRunnableImage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	writeIndex(t, reg, "oracle:empty", mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	d := decideOn(oracleLookup(reg), reg.Ref("oracle:empty"), oracleNode{os: "linux", arch: "amd64"})
	if len(d.Findings) != 1 || d.Findings[0].Class != image.PlatformMismatch || d.Allowed ||
		!strings.Contains(d.Findings[0].Message, "no runnable image") {
		t.Errorf("want one PlatformMismatch denial saying no runnable image, got %s", fmt.Sprint(d.Findings))
	}
}

// An index entry without a platform is matched by its config's platform, as
// containerd's images.Manifest does.
func TestIndexEntryWithoutPlatform(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	img, err := fixtures.Image(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	writeIndex(t, reg, "oracle:no-platform",
		mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: img}))
	lookup := oracleLookup(reg)
	for _, tt := range []struct {
		node  oracleNode
		allow bool
	}{{oracleNode{os: "linux", arch: "arm64"}, true}, {oracleNode{os: "linux", arch: "amd64"}, false}} {
		d := decideOn(lookup, reg.Ref("oracle:no-platform"), tt.node)
		if d.Allowed != tt.allow {
			t.Errorf("%s: allowed = %v, want %v: %v", tt.node, d.Allowed, tt.allow, d.Findings)
		}
	}
}
