package bed

import (
	"context"
	"fmt"

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
}

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
