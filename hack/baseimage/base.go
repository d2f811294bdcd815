package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/fixtures"
)

// What distroless static:nonroot provides and a static Go binary uses: the
// nonroot user and group (65532) for `USER`, a CA bundle for TLS to
// registries, nsswitch.conf so the Go resolver reads /etc/hosts first, and a
// world-writable /tmp.
const (
	nonrootUID  = 65532
	caBundleDir = "etc/ssl/certs"
	caBundle    = caBundleDir + "/ca-certificates.crt"
	passwd      = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group       = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	nsswitch    = "hosts: files dns\n"
	workingDir  = "/home/nonroot"
	sslCertFile = "SSL_CERT_FILE=/" + caBundle
)

var errNoCABundle = errors.New("the CA bundle is empty")

// entry is one file or directory of the base layer.
type entry struct {
	name string
	mode int64
	uid  int
	body string
	dir  bool
}

// Build returns a multi-platform index of one-layer images, the same layer
// for every platform (it holds no binaries). Timestamps are zero, so the
// same inputs give the same digest.
func Build(caPEM []byte, platforms []v1.Platform) (v1.ImageIndex, error) {
	if len(bytes.TrimSpace(caPEM)) == 0 {
		return nil, errNoCABundle
	}
	if len(platforms) == 0 {
		return nil, errors.New("no platforms")
	}
	layer, err := baseLayer(caPEM)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		img, err := platformImage(layer, p)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

func platformImage(layer v1.Layer, p v1.Platform) (v1.Image, error) {
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	return fixtures.EditConfig(img, func(cfg *v1.ConfigFile) {
		fixtures.SetPlatform(cfg, p)
		cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
		cfg.Config.User = fmt.Sprintf("%d:%d", nonrootUID, nonrootUID)
		cfg.Config.WorkingDir = workingDir
		cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", sslCertFile}
	})
}

func baseLayer(caPEM []byte) (v1.Layer, error) {
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: passwd},
		{name: "etc/group", mode: 0o644, body: group},
		{name: "etc/nsswitch.conf", mode: 0o644, body: nsswitch},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: caBundleDir + "/", mode: 0o755, dir: true},
		{name: caBundle, mode: 0o644, body: string(caPEM)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX,
			Typeflag: tar.TypeReg, Size: int64(len(e.body)),
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar header %q: %w", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			return nil, fmt.Errorf("tar body %q: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
