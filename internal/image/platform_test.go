package image

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    v1.Platform
		wantErr bool
	}{
		{in: "linux/amd64", want: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{in: " linux/arm64 ", want: v1.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "linux/arm64/v8", want: v1.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "linux/aarch64", want: v1.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "Linux/X86_64", want: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/arm", want: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/arm/v6", want: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{in: "windows/amd64:10.0.17763", want: v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"}},
		{in: "windows(10.0.20348)/amd64", want: v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"}},
		{in: "windows(10.0.20348)/amd64:10.0.20348", wantErr: true},
		{in: "amd64", wantErr: true},
		{in: "linux", wantErr: true},
		{in: "linux/*", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePlatform(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePlatform(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
			t.Errorf("ParsePlatform(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestPlatformName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   v1.Platform
		want string
	}{
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "linux/arm64"},
		{v1.Platform{OS: "linux", Architecture: "armhf"}, "linux/arm/v7"},
		{v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"}, "windows/amd64:10.0.17763"},
	} {
		if got := PlatformName(tt.in); got != tt.want {
			t.Errorf("PlatformName(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The reasons are the user's only clue: they must name the rule.
func TestOnNodeReasons(t *testing.T) {
	t.Parallel()
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	idx := func(ps ...v1.Platform) Facts { return Facts{MediaType: types.OCIImageIndex, Platforms: ps} }
	one := func(p v1.Platform) Facts {
		return Facts{MediaType: types.OCIManifestSchema1, Platforms: []v1.Platform{p}}
	}
	tests := []struct {
		name    string
		node    v1.Platform
		facts   Facts
		want    Outcome
		wantHas string
	}{
		{"x86-64 levels", amd64, idx(v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}), NoMatch, "names no x86-64 level"},
		{"attestations only", amd64, idx(), NoRunnable, "no runnable image"},
		{"386 in an index", amd64, idx(v1.Platform{OS: "linux", Architecture: "386"}), RunsMaybe, "local pull"},
		{"32-bit arm single on arm64", arm64, one(v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}), RunsMaybe, "AArch32"},
		{"arm64 single on amd64", amd64, one(arm64), WrongArchitecture, "exec format error"},
		{"386 single on amd64", amd64, one(v1.Platform{OS: "linux", Architecture: "386"}), Runs, ""},
		{"no platform in the config", amd64, Facts{MediaType: types.OCIManifestSchema1}, Runs, ""},
		{"windows build", v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763"},
			idx(v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}), NoMatch, WindowsBuildLabel},
		{"windows single of another build", v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348"},
			one(v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}), WrongArchitecture, "does not match the host"},
		{"windows ltsc2022 image on a 2025 host", v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.26100"},
			idx(v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}), Runs, ""},
	}
	for _, tt := range tests {
		v := OnNode(tt.node, tt.facts)
		if v.Outcome != tt.want || !strings.Contains(v.Reason, tt.wantHas) {
			t.Errorf("%s: OnNode = %d %q, want %d with %q", tt.name, v.Outcome, v.Reason, tt.want, tt.wantHas)
		}
	}
}

func TestEffectivePullPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		written, ref string
		want         PullPolicy
	}{
		{"", "nginx", PullAlways},
		{"", "nginx:latest", PullAlways},
		{"", "nginx:latest@" + testDigest, PullAlways},
		{"", "nginx:1.27", PullIfNotPresent},
		{"", "nginx@" + testDigest, PullIfNotPresent},
		{"", "Not A Reference", PullIfNotPresent},
		{"Never", "nginx", PullNever},
		{"Always", "nginx:1.27", PullAlways},
	}
	for _, tt := range tests {
		r, _ := Parse(tt.ref)
		if got := EffectivePullPolicy(tt.written, r); got != tt.want {
			t.Errorf("EffectivePullPolicy(%q, %q) = %s, want %s", tt.written, tt.ref, got, tt.want)
		}
	}
}

func TestLocalName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nginx":                    "docker.io/library/nginx:latest",
		"nginx:1.27":               "docker.io/library/nginx:1.27",
		"ghcr.io/a/b:v1":           "ghcr.io/a/b:v1",
		"nginx:1.27@" + testDigest: "docker.io/library/nginx@" + testDigest,
	} {
		r, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.LocalName(); got != want {
			t.Errorf("LocalName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOnNodeBuildMissing: the build containerd picks for a node, when the
// registry lacks it, is BuildMissing whatever it would have been; a lost
// entry no node picks changes nothing.
func TestOnNodeBuildMissing(t *testing.T) {
	t.Parallel()
	amd, arm, single := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("c", 64)}
	amd64, arm64 := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64"}
	index := Facts{MediaType: types.OCIImageIndex, Platforms: []v1.Platform{amd64, arm64}, Manifests: []v1.Hash{amd, arm},
		Broken: []Broken{{Manifest: arm, Part: PartManifest, Missing: arm, Answer: "404"}}}
	one := Facts{Digest: single, MediaType: types.OCIManifestSchema1, Platforms: []v1.Platform{amd64},
		Broken: []Broken{{Manifest: single, Part: PartLayer, Missing: amd, Answer: "404"}}}
	tests := []struct {
		name     string
		node     v1.Platform
		f        Facts
		want     Outcome
		manifest v1.Hash
	}{
		{"index, lost entry's node", arm64, index, BuildMissing, arm},
		{"index, other node", amd64, index, Runs, amd},
		{"single, lost layer", amd64, one, BuildMissing, v1.Hash{}},
		{"single on the wrong architecture stays that", arm64, one, WrongArchitecture, v1.Hash{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := OnNode(tc.node, tc.f)
			if v.Outcome != tc.want || v.Manifest != tc.manifest {
				t.Errorf("OnNode = %+v, want outcome %v, manifest %v", v, tc.want, tc.manifest)
			}
			if tc.want == BuildMissing && !strings.Contains(v.Reason, "not found") {
				t.Errorf("reason %q does not say how the pull fails", v.Reason)
			}
		})
	}
}
