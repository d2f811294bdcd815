package bed

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/fixtures"
)

// Platforms of the bed's nodes and images.
var (
	AMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	ARM64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	I386  = v1.Platform{OS: "linux", Architecture: "386"}
)

// Image is a fixture to push: one platform makes a single image, more an
// index. CopyOf, when set, names an image pushed before (by reference as
// written) to copy under this name instead, as a mirror holds it.
// Programs, when set, makes the image runnable on a real node: each
// platform's image runs the pause program of its architecture.
type Image struct {
	Registry  *Registry
	Repo, Tag string
	Platforms []v1.Platform
	CopyOf    string
	Programs  Programs
	// Index makes an index even of one platform.
	Index bool
	// Lose deletes part of the image from its registry once pushed, as
	// garbage collection, a deletion or a half-finished push leaves it.
	Lose Loss
}

// Loss is what Image.Lose deletes.
type Loss int

const (
	// LoseNothing keeps the image whole.
	LoseNothing Loss = iota
	// LoseEntry deletes an index's manifest for its first platform.
	LoseEntry
	// LoseConfig deletes the config blob of a single image, or of an
	// index's manifest for its first platform.
	LoseConfig
	// LoseLayer deletes the first layer blob, of a single image or of an
	// index's manifest for its first platform.
	LoseLayer
)

// Ref is the image's reference as manifests write it.
func (im Image) Ref() string { return im.Registry.Ref(im.Repo, im.Tag) }

// Digests are pushed images' digests, by reference as written in manifests.
type Digests map[string]v1.Hash

// Push pushes images in order through ca's TLS, with each registry's
// credentials.
func Push(ctx context.Context, ca *Authority, images []Image) (Digests, error) {
	out := Digests{}
	for _, im := range images {
		written := im.Ref()
		ref, err := name.ParseReference(written, name.StrictValidation)
		if err != nil {
			return nil, err
		}
		opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(ca.Transport()), remote.WithAuth(im.Registry.Auth())}
		var h v1.Hash
		switch {
		case im.CopyOf != "":
			h, err = copyIndex(im.CopyOf, ref, opts)
		case im.Programs != nil:
			h, err = pushRunnable(im, ref, opts)
		case len(im.Platforms) == 1:
			h, err = fixtures.PushImage(ref, im.Platforms[0], opts...)
		default:
			h, err = fixtures.PushIndex(ref, im.Platforms, opts...)
		}
		if err != nil {
			return nil, fmt.Errorf("push %q: %w", written, err)
		}
		if err := lose(ctx, ca, im, ref.Context().Digest(h.String()), opts); err != nil {
			return nil, fmt.Errorf("lose part of %q: %w", written, err)
		}
		out[written] = h
	}
	return out, nil
}

// pushRunnable pushes a runnable image (an index when it has more than one
// platform or asks for one).
func pushRunnable(im Image, ref name.Reference, opts []remote.Option) (v1.Hash, error) {
	if len(im.Platforms) == 1 && !im.Index {
		img, err := runnableImage(im.Programs, im.Platforms[0], im.Ref())
		if err != nil {
			return v1.Hash{}, err
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			return v1.Hash{}, err
		}
		return img.Digest()
	}
	idx, err := runnableIndex(im.Programs, im.Platforms, im.Ref())
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// copyIndex copies the index src to dst: same digest, another name. Both
// sit on registries that share the options' credentials.
func copyIndex(src string, dst name.Reference, opts []remote.Option) (v1.Hash, error) {
	from, err := name.ParseReference(src, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, err
	}
	idx, err := remote.Index(from, opts...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read %q: %w", src, err)
	}
	if err := remote.WriteIndex(dst, idx, opts...); err != nil {
		return v1.Hash{}, err
	}
	return idx.Digest()
}

// lose deletes what im.Lose names of the image pushed at at.
func lose(ctx context.Context, ca *Authority, im Image, at name.Digest, opts []remote.Option) error {
	if im.Lose == LoseNothing {
		return nil
	}
	desc, err := remote.Get(at, opts...)
	if err != nil {
		return err
	}
	manifest := at
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		list, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		manifest = at.Context().Digest(list.Manifests[0].Digest.String())
		if im.Lose == LoseEntry {
			return remote.Delete(manifest, opts...)
		}
	}
	img, err := remote.Image(manifest, opts...)
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	blob := m.Config.Digest
	if im.Lose == LoseLayer {
		blob = m.Layers[0].Digest
	}
	return deleteBlob(ctx, ca, im.Registry, at.Context().RepositoryStr(), blob)
}

// deleteBlob deletes a blob from repo with the distribution registry's API
// (deletes are enabled in the bed's registries).
func deleteBlob(ctx context.Context, ca *Authority, reg *Registry, repo string, blob v1.Hash) error {
	u := fmt.Sprintf("https://%s/v2/%s/blobs/%s", reg.Host, repo, blob)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return err
	}
	if reg.User != "" {
		req.SetBasicAuth(reg.User, reg.Password)
	}
	resp, err := (&http.Client{Transport: ca.Transport()}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("DELETE %s: %s", u, resp.Status)
	}
	return nil
}
