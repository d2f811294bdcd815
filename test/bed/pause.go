package bed

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/fixtures"
)

// PausePackage is the program the real node's images run (hack/pause).
const PausePackage = "github.com/pullguard/pullguard/hack/pause"

// PauseArchs are the architectures the bed builds the program for: the
// node's own, one it cannot execute (exec format error) and one it runs
// although an image says another architecture (386 on amd64).
var PauseArchs = []string{"amd64", "arm64", "386"}

// Programs are the pause program's binaries by GOARCH.
type Programs map[string]string

// BuildPause cross-compiles PausePackage for each of PauseArchs into dir
// with the go command on PATH, from the module of the working directory.
func BuildPause(ctx context.Context, dir string) (Programs, error) {
	out := Programs{}
	for _, arch := range PauseArchs {
		bin := filepath.Join(dir, "pause-"+arch)
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, PausePackage)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s for %s: %w\n%s", PausePackage, arch, err, b)
		}
		out[arch] = bin
	}
	return out, nil
}

// runnableImage is an image of platform p whose entrypoint is the pause
// program for p's architecture. Its one layer also holds unique, so no two
// images share a blob (containerd's content store is shared by every pod
// of the node: a blob pulled for one must not make another's pull pass).
func runnableImage(progs Programs, p v1.Platform, unique string) (v1.Image, error) {
	bin, ok := progs[p.Architecture]
	if !ok {
		return nil, fmt.Errorf("no pause program for %s (have %v)", p.Architecture, PauseArchs)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"pause", 0o755, data}, {"etc/pullguard-image", 0o644, []byte(unique + "\n")}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	return fixtures.EditConfig(img, func(cf *v1.ConfigFile) {
		fixtures.SetPlatform(cf, p)
		cf.Config.Entrypoint = []string{"/pause"}
	})
}

// runnableIndex is an OCI index of one runnable image per platform.
func runnableIndex(progs Programs, platforms []v1.Platform, unique string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		img, err := runnableImage(progs, p, unique+" "+p.String())
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}
