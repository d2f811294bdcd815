package main

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

const (
	testVersion = "v1.2.3"
	testRepo    = "registry.example/pullguard"
)

// writeLayout writes an OCI layout under dist/image holding one index of
// the platforms, records its digest in image.digest, and returns it.
func writeLayout(t *testing.T, dist string, platforms ...string) v1.Hash {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range platforms {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
	}
	lp, err := layout.Write(filepath.Join(dist, "image"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dist, "image.digest"), d.String()+"\n")
	return d
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// packChart writes dir's Chart.yaml and values.yaml as helm package lays
// them out.
func packChart(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, name := range []string{"Chart.yaml", "values.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "pullguard/" + name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []interface{ Close() error }{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// releasedChart copies the real chart's Chart.yaml and values.yaml, lets
// set-chart make them a release's, and packs them into dist.
func releasedChart(t *testing.T, dist string, digest string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"Chart.yaml", "values.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "charts", "pullguard", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), string(data))
	}
	o := chartRelease{dir: dir, version: "1.2.3", repository: testRepo, tag: testVersion, digest: digest}
	if err := setChart(o); err != nil {
		t.Fatal(err)
	}
	packChart(t, dir, filepath.Join(dist, "pullguard-1.2.3.tgz"))
}

func TestSetChartThenVerifyChart(t *testing.T) {
	t.Parallel()
	dist := t.TempDir()
	d := writeLayout(t, dist, imagePlatforms...)
	releasedChart(t, dist, d.String())
	o := release{dist: dist, version: testVersion, repository: testRepo}
	if err := verifyChart(o, d); err != nil {
		t.Fatalf("a chart set to the layout's digest: %v", err)
	}
	other := writeLayout(t, t.TempDir(), "linux/amd64")
	if err := verifyChart(o, other); err == nil || !strings.Contains(err.Error(), "image.digest") {
		t.Errorf("a chart naming another digest: error %v, want one about image.digest", err)
	}
	o.repository = "elsewhere.example/pullguard"
	if err := verifyChart(o, d); err == nil {
		t.Error("a chart naming another repository passed")
	}
}

func TestSetChartRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Chart.yaml"), "version: 0.1.0\nappVersion: \"0.1.0\"\n")
	writeFile(t, filepath.Join(dir, "values.yaml"), "image:\n  repository: r\n  tag: \"\"\n")
	digest := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name string
		o    chartRelease
		want string
	}{
		{"short digest", chartRelease{dir: dir, version: "1.0.0", repository: "r", tag: "v1.0.0", digest: "sha256:abc"}, "not sha256"},
		{"no digest slot", chartRelease{dir: dir, version: "1.0.0", repository: "r", tag: "v1.0.0", digest: digest}, "0 lines match"},
		{"no repository", chartRelease{dir: dir, version: "1.0.0", tag: "v1.0.0", digest: digest}, "required"},
	}
	for _, tt := range tests {
		if err := setChart(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func TestVerifyLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		platforms []string
		tamper    func(t *testing.T, dist string)
		want      string // "" for no error
	}{
		{name: "both platforms", platforms: imagePlatforms},
		{name: "amd64 only", platforms: []string{"linux/amd64"}, want: "lacks linux/arm64"},
		{name: "recorded digest differs", platforms: imagePlatforms, want: "image.digest says",
			tamper: func(t *testing.T, dist string) {
				writeFile(t, filepath.Join(dist, "image.digest"), "sha256:"+strings.Repeat("0", 64))
			}},
		{name: "no layout", platforms: imagePlatforms, want: "OCI layout",
			tamper: func(t *testing.T, dist string) { os.RemoveAll(filepath.Join(dist, "image")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dist := t.TempDir()
			want := writeLayout(t, dist, tt.platforms...)
			if tt.tamper != nil {
				tt.tamper(t, dist)
			}
			got, err := verifyLayout(dist)
			if tt.want == "" {
				if err != nil || got != want {
					t.Fatalf("verifyLayout = %s, %v; want %s", got, err, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verifyLayout: error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestVerifySums(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T) string {
		dist := t.TempDir()
		writeFile(t, filepath.Join(dist, "a"), "one")
		writeFile(t, filepath.Join(dist, "sbom", "b.json"), "two")
		writeFile(t, filepath.Join(dist, "image", "index.json"), "{}") // content-addressed: not listed
		writeFile(t, filepath.Join(dist, "SHA256SUMS"), fmt.Sprintf("%s  a\n%s  sbom/b.json\n", sum(t, "one"), sum(t, "two")))
		return dist
	}
	if err := verifySums(write(t)); err != nil {
		t.Fatalf("intact release: %v", err)
	}
	tampered := write(t)
	writeFile(t, filepath.Join(tampered, "a"), "changed")
	if err := verifySums(tampered); err == nil || !strings.Contains(err.Error(), "a has sha256") {
		t.Errorf("changed file: error %v", err)
	}
	unlisted := write(t)
	writeFile(t, filepath.Join(unlisted, "extra"), "three")
	if err := verifySums(unlisted); err == nil || !strings.Contains(err.Error(), "does not list extra") {
		t.Errorf("unlisted file: error %v", err)
	}
}

func sum(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, data)
	s, err := fileSum(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheckMachine reads the test binary itself: built for this machine.
func TestCheckMachine(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var mine, other elf.Machine
	switch {
	case runtime.GOOS != "linux":
		t.Skip("the test binary is an ELF file only on linux")
	case runtime.GOARCH == "amd64":
		mine, other = elf.EM_X86_64, elf.EM_AARCH64
	case runtime.GOARCH == "arm64":
		mine, other = elf.EM_AARCH64, elf.EM_X86_64
	default:
		t.Skipf("no ELF machine listed for %s", runtime.GOARCH)
	}
	if err := checkMachine(self, mine, 0); err != nil {
		t.Errorf("own binary: %v", err)
	}
	if err := checkMachine(self, other, 0); err == nil {
		t.Error("own binary passed as another machine's")
	}
	if err := checkMachine(self, 0, macho.CpuArm64); err == nil {
		t.Error("an ELF binary passed as Mach-O")
	}
}

func TestVerifySBOMs(t *testing.T) {
	t.Parallel()
	good := t.TempDir()
	writeFile(t, filepath.Join(good, "sbom", "x.spdx.json"), `{"spdxVersion": "SPDX-2.3"}`)
	if err := verifySBOMs(good); err != nil {
		t.Errorf("SPDX document: %v", err)
	}
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, "sbom", "x.json"), `{"bomFormat": "CycloneDX"}`)
	if err := verifySBOMs(bad); err == nil {
		t.Error("a non-SPDX document passed")
	}
	if err := verifySBOMs(t.TempDir()); err == nil {
		t.Error("no SBOM passed")
	}
}
