package image

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// How containerd v2.4.2 chooses what to pull for a node, read from its code
// and from github.com/containerd/platforms v1.0.0-rc.5 (the version it uses):
//
//   - The CRI plugin pulls through the transfer service unless its config
//     needs the local pull (internal/cri/config/config.go
//     CheckLocalImagePullConfigs; on Linux disable_snapshot_annotations
//     defaults to true, so the transfer service is the default). It asks
//     for platforms.DefaultSpec() (internal/cri/server/images/image_pull.go),
//     and the transfer image store fetches only the index entries that
//     platforms.Ordered(DefaultSpec()) matches
//     (core/transfer/image/imagestore.go ImageFilter, images.FilterPlatforms):
//     the node's own platform after Normalize, nothing "compatible".
//   - The image's config is then found with the client's platforms.Default(),
//     that is platforms.Only(DefaultSpec()) (plugins/cri/images/plugin.go,
//     core/images/image.go Manifest): the best entry by Only's order, which
//     puts the node's exact platform first. With no entry Only matches the
//     pull fails: "no match for platform in manifest". With only a
//     compatible one (386 on amd64, arm/v6 on arm/v7, arm on arm64) the
//     transfer service never fetched it and the pull fails too; the local
//     pull (use_local_image_pull, or legacy registry mirrors, configs or
//     auths in the CRI config) fetches with Only and pulls it.
//   - A top-level single-platform manifest is never matched against the
//     node (Manifest skips the check for the root descriptor): it is
//     pulled whatever its config says, and runs only if the CPU executes it.
//   - DefaultSpec on amd64 names no variant (cpuVariant is read only on
//     arm), and Only(amd64) admits amd64 (v1) and 386 but no amd64/v2..v4:
//     nodes carry no x86-64 level label, so neither can pullguard, and an
//     index of only amd64/v2 or v3 builds does not pull on any amd64 node.
//   - On Windows the matcher also compares os.version with the host build
//     (platform_windows_compat.go): builds before ltsc2022 only match the
//     same build; later hosts accept any build from the previous LTSC on.

// WindowsBuildLabel is the node label the kubelet sets to the Windows host's
// "major.minor.build" version; containerd on that node matches image
// os.version against the same host version.
const WindowsBuildLabel = "node.kubernetes.io/windows-build"

// NodePlatform is the platform containerd's DefaultSpec gives on a node with
// these labels: os and architecture, no variant (Normalize makes plain arm
// arm/v7 and arm64 arm64/v8, what cpuVariant reports on nearly every such
// CPU), and for Windows the host build.
func NodePlatform(os, arch, windowsBuild string) v1.Platform {
	p := v1.Platform{OS: os, Architecture: arch}
	if strings.EqualFold(os, "windows") {
		p.OSVersion = windowsBuild
	}
	return p
}

// ParsePlatform reads a platform as `pullguard check --platform` takes it:
// containerd's specifier "os[(osversion)]/arch[/variant]", optionally
// followed by ":osversion" as go-containerregistry and docker write it
// ("windows/amd64:10.0.17763"). The OS and architecture are required.
func ParsePlatform(s string) (v1.Platform, error) {
	spec, version, _ := strings.Cut(strings.TrimSpace(s), ":")
	if !strings.Contains(spec, "/") {
		// containerd would guess the rest from the machine pullguard runs on.
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant][:osversion], e.g. linux/arm64 or windows/amd64:10.0.17763", s)
	}
	p, err := platforms.Parse(spec)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	if version != "" {
		if p.OSVersion != "" {
			return v1.Platform{}, fmt.Errorf("platform %q names the OS version twice", s)
		}
		p.OSVersion = version
	}
	return fromSpec(platforms.Normalize(p)), nil
}

// PlatformName is the platform as messages and `--platform` spell it,
// normalized as containerd normalizes it: "linux/arm64", "linux/arm/v7",
// "windows/amd64:10.0.17763".
func PlatformName(p v1.Platform) string {
	n := platforms.Normalize(toSpec(p))
	s := n.OS + "/" + n.Architecture
	if n.Variant != "" {
		s += "/" + n.Variant
	}
	if n.OSVersion != "" {
		s += ":" + n.OSVersion
	}
	return s
}

// SamePlatform reports whether a and b are one platform to containerd: equal
// after Normalize ("aarch64" is "arm64/v8", "x86_64" is "amd64").
func SamePlatform(a, b v1.Platform) bool {
	na, nb := platforms.Normalize(toSpec(a)), platforms.Normalize(toSpec(b))
	return na.OS == nb.OS && na.Architecture == nb.Architecture && na.Variant == nb.Variant && na.OSVersion == nb.OSVersion
}

// Outcome is what happens to an image on a node of one platform.
type Outcome int

const (
	// Runs: containerd pulls a build the node executes.
	Runs Outcome = iota
	// RunsMaybe: the image may pull and run, or not, for a reason pullguard
	// cannot see from the cluster (containerd's pull mode, the CPU's
	// features); Reason says which. A warning, never a denial.
	RunsMaybe
	// NoMatch: the index has no build containerd picks for the node; the
	// pull fails with "no match for platform in manifest".
	NoMatch
	// NoRunnable: the index has no runnable build at all (only
	// attestations, or nothing); the pull fails on every node.
	NoRunnable
	// WrongArchitecture: a single-platform image the node cannot execute;
	// containerd pulls it and the container then fails to start.
	WrongArchitecture
	// BuildMissing: containerd picks a build the registry does not fully
	// have (Facts.Broken); the pull fails with "not found".
	BuildMissing
)

// PlatformVerdict is Outcome with the build it concerns and why.
type PlatformVerdict struct {
	Outcome Outcome
	// Build is the image platform containerd would pull (for an index) or
	// the config's platform (for a single manifest); zero when none.
	Build v1.Platform
	// Manifest is the digest of the index entry containerd would pull;
	// zero for a single manifest, or when it pulls none.
	Manifest v1.Hash
	// entry is the index of Build in an index's Facts.Platforms.
	entry int
	// Reason says, in containerd's terms, why the outcome is not Runs; ""
	// for a plain NoMatch, which the platforms listed say.
	Reason string
}

// OnNode predicts what containerd does with an image of these facts on a
// node of platform node. Facts of a schema 1 image, or of a single manifest
// whose config names no platform, predict Runs: containerd does not look,
// and pullguard cannot tell. A build it would pull that the registry does
// not fully have (Facts.Broken) is BuildMissing, whatever it would have
// done.
func OnNode(node v1.Platform, f Facts) PlatformVerdict {
	n := toSpec(node)
	var v PlatformVerdict
	switch {
	case f.MediaType.IsIndex():
		v = onNodeIndex(n, f.Platforms)
		if (v.Outcome == Runs || v.Outcome == RunsMaybe) && v.entry < len(f.Manifests) {
			v.Manifest = f.Manifests[v.entry]
		}
	case len(f.Platforms) == 0:
		v = PlatformVerdict{Outcome: Runs}
	default:
		v = onNodeSingle(n, f.Platforms[0])
	}
	if v.Outcome == WrongArchitecture || v.Outcome == NoMatch || v.Outcome == NoRunnable {
		return v
	}
	pulled := v.Manifest
	if !f.MediaType.IsIndex() {
		pulled = f.Digest
	}
	if b, ok := f.BrokenIn(pulled); ok {
		v.Outcome = BuildMissing
		v.Reason = b.Sentence()
		if f.MediaType.IsIndex() {
			v.Reason = fmt.Sprintf("on %s nodes containerd pulls the index's %s entry, and %s", PlatformName(fromSpec(n)), PlatformName(v.Build), v.Reason)
		}
	}
	return v
}

func onNodeIndex(n specs.Platform, builds []v1.Platform) PlatformVerdict {
	if len(builds) == 0 {
		return PlatformVerdict{Outcome: NoRunnable,
			Reason: "the index lists no runnable image (only attestations, or no entries), so containerd finds no match for any platform"}
	}
	exact, only := matchersOf(n)
	if platforms.Normalize(n).OS == "windows" {
		// containerd on Windows finds the config with its Default(), which
		// is NewMatcher(DefaultSpec()) there (defaults_windows.go): no 386.
		only = exact
	}
	type candidate struct {
		spec  specs.Platform
		entry int
	}
	var candidates []candidate
	for i, b := range builds {
		if s := toSpec(b); only.Match(s) {
			candidates = append(candidates, candidate{s, i})
		}
	}
	if len(candidates) == 0 {
		return PlatformVerdict{Outcome: NoMatch, Reason: noMatchReason(n, builds)}
	}
	// Stable: of equal platforms containerd takes the index's first.
	slices.SortStableFunc(candidates, func(a, b candidate) int {
		switch {
		case only.Less(a.spec, b.spec):
			return -1
		case only.Less(b.spec, a.spec):
			return 1
		}
		return 0
	})
	best := candidates[0].spec
	v := PlatformVerdict{Outcome: Runs, Build: fromSpec(best), entry: candidates[0].entry}
	if exact.Match(best) {
		return v
	}
	v.Outcome = RunsMaybe
	v.Reason = fmt.Sprintf("the index has no %s build, only %s, which containerd's default transfer-service pull does not fetch (no match for platform in manifest); only nodes whose containerd uses the local pull (use_local_image_pull) pull it",
		PlatformName(fromSpec(n)), PlatformName(v.Build))
	if aarch32(n, best) {
		v.Reason += "; " + aarch32Reason
	}
	return v
}

// aarch32Reason: containerd counts 32-bit arm as runnable on arm64
// (platformVector), but many arm64 CPUs (Apple M-series, AWS Graviton 2 and
// later, Ampere) have no AArch32 execution state.
const aarch32Reason = "a 32-bit arm build runs on an arm64 node only if its CPU has AArch32, which many arm64 CPUs (Graviton 2 and later, Ampere, Apple) lack"

func aarch32(node, build specs.Platform) bool {
	return platforms.Normalize(node).Architecture == "arm64" && platforms.Normalize(build).Architecture == "arm"
}

func onNodeSingle(n specs.Platform, build v1.Platform) PlatformVerdict {
	b := toSpec(build)
	v := PlatformVerdict{Outcome: Runs, Build: build}
	if _, only := matchersOf(n); only.Match(b) {
		if aarch32(n, b) {
			v.Outcome = RunsMaybe
			v.Reason = "containerd pulls this single-platform " + PlatformName(build) + " image on " + PlatformName(fromSpec(n)) + " nodes, and " + aarch32Reason
		}
		return v
	}
	nn, nb := platforms.Normalize(n), platforms.Normalize(b)
	if nn.OS == "windows" && nb.OS == "windows" && nn.Architecture == nb.Architecture {
		v.Outcome = WrongArchitecture
		v.Reason = fmt.Sprintf("containerd pulls a single-platform image without matching it, and a Windows %s container does not start on a host of build %s (the container operating system does not match the host)",
			orUnknown(nb.OSVersion), orUnknown(nn.OSVersion))
		return v
	}
	if nn.OS == nb.OS && nn.Architecture == nb.Architecture {
		// Same instruction set at a higher level (amd64/v3, arm64/v8.2):
		// the kernel loads it, and whether it runs depends on CPU features
		// no node label records.
		v.Outcome = RunsMaybe
		v.Reason = fmt.Sprintf("containerd pulls this single-platform %s image on %s nodes without matching it; it needs a CPU of that level and dies with an illegal instruction on older ones",
			PlatformName(build), PlatformName(fromSpec(n)))
		return v
	}
	v.Outcome = WrongArchitecture
	v.Reason = fmt.Sprintf("containerd pulls a single-platform image without matching it against the node, and on a %s node a %s image's container fails to start with exec format error",
		PlatformName(fromSpec(n)), PlatformName(build))
	return v
}

// noMatchReason says why no build matched, naming the rule a user is least
// likely to expect: amd64 levels above v1.
func noMatchReason(n specs.Platform, builds []v1.Platform) string {
	nn := platforms.Normalize(n)
	if nn.Architecture == "amd64" && nn.Variant == "" {
		leveled := true
		for _, b := range builds {
			nb := platforms.Normalize(toSpec(b))
			if nb.OS != nn.OS || nb.Architecture != "amd64" || nb.Variant == "" {
				leveled = false
			}
		}
		if leveled {
			return "containerd's platform on an amd64 node names no x86-64 level (nodes carry no label for it), so it matches only plain amd64 (v1) and 386 builds, never amd64/v2, v3 or v4: no match for platform in manifest"
		}
	}
	if nn.OS == "windows" {
		for _, b := range builds {
			nb := platforms.Normalize(toSpec(b))
			if nb.OS == "windows" && nb.Architecture == nn.Architecture {
				return fmt.Sprintf("containerd matches a Windows build's os.version against the host build %s (node label %s), and no build of the index is compatible with it: no match for platform in manifest",
					orUnknown(nn.OSVersion), WindowsBuildLabel)
			}
		}
	}
	// The platforms the image has and the pod needs say it all.
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func toSpec(p v1.Platform) specs.Platform {
	return specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

func fromSpec(p specs.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

// matchersOf is platforms.Ordered(n) and platforms.Only(n), built once per
// node platform: building them allocates, admissions ask for the same few
// node platforms every time, and the matchers are read-only, so safe to
// share. At most maxMatcherMemo platforms are kept (check --platform takes
// any).
func matchersOf(n specs.Platform) (exact, only platforms.MatchComparer) {
	key := n.OS + "\x00" + n.Architecture + "\x00" + n.Variant + "\x00" + n.OSVersion + "\x00" + strings.Join(n.OSFeatures, ",")
	if m, ok := matcherMemo.Load(key); ok {
		pair := m.([2]platforms.MatchComparer)
		return pair[0], pair[1]
	}
	exact, only = platforms.Ordered(n), platforms.Only(n)
	if matcherMemoLen.Load() < maxMatcherMemo {
		if _, loaded := matcherMemo.LoadOrStore(key, [2]platforms.MatchComparer{exact, only}); !loaded {
			matcherMemoLen.Add(1)
		}
	}
	return exact, only
}

const maxMatcherMemo = 64

var (
	matcherMemo    sync.Map // key of a node platform → [Ordered, Only]
	matcherMemoLen atomic.Int32
)
