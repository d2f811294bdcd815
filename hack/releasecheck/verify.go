package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"sigs.k8s.io/yaml"
)

// release is what verify checks.
type release struct {
	dist, version, repository string
}

// imagePlatforms are the platforms the image must be built for.
var imagePlatforms = []string{"linux/amd64", "linux/arm64"}

// cliTargets are the CLI binaries' platforms, with the machine each must be
// built for.
var cliTargets = []struct {
	os, arch string
	elf      elf.Machine
	macho    macho.Cpu
}{
	{"linux", "amd64", elf.EM_X86_64, 0},
	{"linux", "arm64", elf.EM_AARCH64, 0},
	{"darwin", "amd64", 0, macho.CpuAmd64},
	{"darwin", "arm64", 0, macho.CpuArm64},
}

func verify(o release) error {
	if o.version == "" || o.repository == "" {
		return errors.New("verify: --version and --repository are required")
	}
	digest, err := verifyLayout(o.dist)
	if err != nil {
		return err
	}
	var errs []error
	if err := verifyChart(o, digest); err != nil {
		errs = append(errs, err)
	}
	if err := verifySums(o.dist); err != nil {
		errs = append(errs, err)
	}
	if err := verifyCLIs(o); err != nil {
		errs = append(errs, err)
	}
	if err := verifySBOMs(o.dist); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// verifyLayout returns the digest of the one image index in DIST/image,
// after checking it is image.digest and covers imagePlatforms.
func verifyLayout(dist string) (v1.Hash, error) {
	p, err := layout.FromPath(filepath.Join(dist, "image"))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout: %w", err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout: %w", err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout index.json: %w", err)
	}
	if len(m.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("OCI layout lists %d images, want the one image index", len(m.Manifests))
	}
	digest := m.Manifests[0].Digest
	idx, err := top.ImageIndex(digest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout: image %s is not a readable index (a multi-arch image): %w", digest, err)
	}
	// Reading it back checks the blob's bytes against its digest.
	if got, err := idx.Digest(); err != nil || got != digest {
		return v1.Hash{}, fmt.Errorf("OCI layout: index %s reads back as %s (%v)", digest, got, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS != "unknown" {
			have = append(have, d.Platform.OS+"/"+d.Platform.Architecture)
		}
	}
	for _, want := range imagePlatforms {
		if !slices.Contains(have, want) {
			return v1.Hash{}, fmt.Errorf("OCI layout: image %s has platforms %q, lacks %s", digest, have, want)
		}
	}
	recorded, err := os.ReadFile(filepath.Join(dist, "image.digest"))
	if err != nil {
		return v1.Hash{}, err
	}
	if got := strings.TrimSpace(string(recorded)); got != digest.String() {
		return v1.Hash{}, fmt.Errorf("image.digest says %s, the layout's index is %s", got, digest)
	}
	return digest, nil
}

// verifyChart checks the packaged chart installs the image by that digest.
func verifyChart(o release, digest v1.Hash) error {
	chartVersion := strings.TrimPrefix(o.version, "v")
	path := filepath.Join(o.dist, "pullguard-"+chartVersion+".tgz")
	files, err := readChart(path, "pullguard/Chart.yaml", "pullguard/values.yaml")
	if err != nil {
		return err
	}
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	var values struct {
		Image struct {
			Repository string `json:"repository"`
			Tag        string `json:"tag"`
			Digest     string `json:"digest"`
		} `json:"image"`
	}
	if err := yaml.Unmarshal(files["pullguard/Chart.yaml"], &chart); err != nil {
		return fmt.Errorf("%s: Chart.yaml: %w", path, err)
	}
	if err := yaml.Unmarshal(files["pullguard/values.yaml"], &values); err != nil {
		return fmt.Errorf("%s: values.yaml: %w", path, err)
	}
	var errs []error
	if chart.Version != chartVersion || chart.AppVersion != chartVersion {
		errs = append(errs, fmt.Errorf("%s: version %q, appVersion %q, want %q", path, chart.Version, chart.AppVersion, chartVersion))
	}
	img := values.Image
	if img.Digest != digest.String() {
		errs = append(errs, fmt.Errorf("%s: image.digest %q, the layout's index is %s", path, img.Digest, digest))
	}
	if img.Repository != o.repository || img.Tag != o.version {
		errs = append(errs, fmt.Errorf("%s: image %s:%s, want %s:%s", path, img.Repository, img.Tag, o.repository, o.version))
	}
	return errors.Join(errs...)
}

func readChart(path string, names ...string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("packaged chart: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if slices.Contains(names, h.Name) {
			if out[h.Name], err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
			}
		}
	}
	for _, n := range names {
		if out[n] == nil {
			return nil, fmt.Errorf("%s has no %s", path, n)
		}
	}
	return out, nil
}

// verifySums checks SHA256SUMS lists every file of DIST outside the
// (content-addressed) layout, and that each sum holds.
func verifySums(dist string) error {
	data, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			errs = append(errs, fmt.Errorf("SHA256SUMS: line %q is not \"<sum>  <file>\"", sc.Text()))
			continue
		}
		listed[name] = true
		got, err := fileSum(filepath.Join(dist, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("SHA256SUMS: %w", err))
		} else if got != sum {
			errs = append(errs, fmt.Errorf("SHA256SUMS: %s has sha256 %s, listed %s", name, got, sum))
		}
	}
	err = filepath.WalkDir(dist, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dist, path)
		switch {
		case d.IsDir() && rel == "image":
			return filepath.SkipDir
		case d.IsDir() || rel == "SHA256SUMS":
			return nil
		case !listed[filepath.ToSlash(rel)]:
			errs = append(errs, fmt.Errorf("SHA256SUMS does not list %s", rel))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyCLIs checks each binary is there and built for its platform.
func verifyCLIs(o release) error {
	var errs []error
	for _, t := range cliTargets {
		path := filepath.Join(o.dist, fmt.Sprintf("pullguard-%s-%s-%s", o.version, t.os, t.arch))
		if err := checkMachine(path, t.elf, t.macho); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkMachine(path string, wantELF elf.Machine, wantMachO macho.Cpu) error {
	if wantELF != 0 {
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("CLI %s: %w", path, err)
		}
		defer f.Close()
		if f.Machine != wantELF {
			return fmt.Errorf("CLI %s is built for %s, want %s", path, f.Machine, wantELF)
		}
		return nil
	}
	f, err := macho.Open(path)
	if err != nil {
		return fmt.Errorf("CLI %s: %w", path, err)
	}
	defer f.Close()
	if f.Cpu != wantMachO {
		return fmt.Errorf("CLI %s is built for %s, want %s", path, f.Cpu, wantMachO)
	}
	return nil
}

// verifySBOMs checks ko wrote SPDX documents.
func verifySBOMs(dist string) error {
	paths, err := filepath.Glob(filepath.Join(dist, "sbom", "*"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return errors.New("no SBOM in sbom/")
	}
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
		}
		if err := json.Unmarshal(data, &doc); err != nil || !strings.HasPrefix(doc.SPDXVersion, "SPDX-") {
			errs = append(errs, fmt.Errorf("SBOM %s is not an SPDX JSON document (spdxVersion %q, %v)", p, doc.SPDXVersion, err))
		}
	}
	return errors.Join(errs...)
}
