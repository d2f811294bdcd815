package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/registrytest"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestBuild(t *testing.T) {
	t.Parallel()
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}
	idx, err := Build([]byte(testCA), platforms)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []v1.Platform
	for _, d := range manifest.Manifests {
		got = append(got, *d.Platform)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != d.Platform.Architecture || cfg.OS != d.Platform.OS || cfg.Variant != d.Platform.Variant {
			t.Errorf("config platform %s/%s/%s, descriptor %s", cfg.OS, cfg.Architecture, cfg.Variant, d.Platform)
		}
		if cfg.Config.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532", cfg.Config.User)
		}
		files := layerFiles(t, img)
		want := map[string]string{
			"etc/passwd":                        passwd,
			"etc/group":                         group,
			"etc/nsswitch.conf":                 nsswitch,
			"etc/ssl/certs/ca-certificates.crt": testCA,
		}
		for path, body := range want {
			if files[path] != body {
				t.Errorf("%s in %s = %q, want %q", path, d.Platform, files[path], body)
			}
		}
	}
	if diff := cmp.Diff(platforms, got); diff != "" {
		t.Errorf("index platforms (-want +got):\n%s", diff)
	}

	again, err := Build([]byte(testCA), platforms)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same inputs differ: %s and %s", d1, d2)
	}
}

func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d, err %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := io.Copy(&b, tr); err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b.String()
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	if _, err := Build([]byte("  \n"), []v1.Platform{{OS: "linux", Architecture: "amd64"}}); !errors.Is(err, errNoCABundle) {
		t.Errorf("empty CA bundle: err %v, want errNoCABundle", err)
	}
	if _, err := Build([]byte(testCA), nil); err == nil {
		t.Error("no platforms: want an error")
	}
}

func TestRunPushes(t *testing.T) {
	t.Parallel()
	host := registrytest.New(t).Host
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{name: "pushes", args: []string{"--ref", host + "/base:nonroot", "--ca-bundle", ca, "--platform", "linux/amd64"}},
		{name: "no ref", args: []string{"--ca-bundle", ca}, wantCode: 2},
		{name: "bad platform", args: []string{"--ref", host + "/base:x", "--ca-bundle", ca, "--platform", "a/b/c/d/e"}, wantCode: 1},
		{name: "missing CA file", args: []string{"--ref", host + "/base:x", "--ca-bundle", ca + ".missing"}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.wantCode, stderr.String())
			}
			if tt.wantCode != 0 {
				return
			}
			ref, err := name.NewDigest(strings.TrimSpace(stdout.String()))
			if err != nil {
				t.Fatalf("output %q is not a digest reference: %v", stdout.String(), err)
			}
			idx, err := remote.Index(ref)
			if err != nil {
				t.Fatalf("pushed index not readable: %v", err)
			}
			if d, _ := idx.Digest(); d.String() != ref.DigestStr() {
				t.Errorf("registry has %s, printed %s", d, ref.DigestStr())
			}
		})
	}
}
