package resolve

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/cache"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
)

// An index or manifest may name content its registry no longer has: an
// entry deleted or garbage-collected after the index was pushed, a layer
// whose upload never finished. containerd then fails the pull ("content
// digest ... not found", "failed to resolve ... not found") although the
// tag resolves, so the lookup asks for the content a node would fetch next:
// the manifest of the entry containerd picks for each platform the pod can
// land on (image.OnNode), and at image.VerifyLayers the blobs of those
// manifests. Only nodes' platforms are asked: an index entry no node
// would pull cannot fail a pull.

// maxBlobChecks is how many blob HEADs one lookup sends at once.
const maxBlobChecks = 4

// pullerFunc makes (once) the puller the checks share.
type pullerFunc func(ctx context.Context) (*remote.Puller, error)

// verification is what a lookup verifies beyond the top-level manifest.
type verification struct {
	platforms []v1.Platform
	depth     image.Depth
}

// verify returns what the registry lacks of the image facts describes, for
// w, asked with auth. A missing manifest or blob is a Broken entry; any
// other failure (the registry unreachable, refusing, rate-limiting) is the
// lookup's error, as the pull would meet it too.
func (r *Resolver) verify(ctx context.Context, ref image.Reference, original string, cred keychain.Credential, facts image.Facts, blobs []v1.Descriptor, w verification) ([]image.Broken, error) {
	identity := cred.Identity
	// The manifests to read, each with the blobs it names once read; a
	// single manifest's were read with it.
	type check struct {
		manifest v1.Hash
		blobs    []v1.Descriptor
		read     bool
	}
	var checks []check
	if facts.MediaType.IsIndex() {
		for _, p := range w.platforms {
			m := image.OnNode(p, facts).Manifest
			if m != (v1.Hash{}) && !slices.ContainsFunc(checks, func(c check) bool { return c.manifest == m }) {
				checks = append(checks, check{manifest: m})
			}
		}
	} else if w.depth >= image.VerifyLayers {
		checks = append(checks, check{manifest: facts.Digest, blobs: blobs, read: true})
	}
	if len(checks) == 0 {
		return nil, nil
	}
	repo, err := r.repository(ref)
	if err != nil {
		return nil, unnameable(original, ref, err)
	}
	// The puller is made by the first flight that asks the registry: a
	// warm lookup finds every answer kept and needs none.
	var (
		once   sync.Once
		puller *remote.Puller
		perr   error
	)
	p := func(ctx context.Context) (*remote.Puller, error) {
		once.Do(func() { puller, perr = r.puller(ctx, repo, identity, cred.Authenticator()) })
		return puller, perr
	}
	var broken []image.Broken
	for _, c := range checks {
		if !c.read {
			key := factsKey(identity, ref, c.manifest.String())
			got, _, err := r.manifests.Do(ctx, key, func(ctx context.Context) ([]v1.Descriptor, time.Duration, error) {
				b, err := r.blobsOf(ctx, p, repo.Digest(c.manifest.String()))
				return b, r.keep(err, cache.Forever), err
			})
			if b, ok := brokenBy(c.manifest, image.PartManifest, c.manifest, err); ok {
				broken = append(broken, b)
				continue
			}
			if err != nil {
				return nil, Classify(original, ref.Registry, err)
			}
			c.blobs = got
		}
		if w.depth < image.VerifyLayers {
			continue
		}
		b, err := r.verifyBlobs(ctx, p, ref, repo.Digest, identity, c.manifest, c.blobs)
		if err != nil {
			return nil, Classify(original, ref.Registry, err)
		}
		broken = append(broken, b...)
	}
	return broken, nil
}

// verifyBlobs HEADs each blob of manifest (config and layers), a few at a
// time, and returns the ones the registry does not have, in the manifest's
// order.
func (r *Resolver) verifyBlobs(ctx context.Context, p pullerFunc, ref image.Reference, at func(string) name.Digest, identity string, manifest v1.Hash, blobs []v1.Descriptor) ([]image.Broken, error) {
	found := make([]*image.Broken, len(blobs))
	var g errgroup.Group
	g.SetLimit(maxBlobChecks)
	var mu sync.Mutex
	var firstErr error
	for i, d := range blobs {
		g.Go(func() error {
			key := identity + "\x00" + ref.Repository + "@" + d.Digest.String()
			_, _, err := r.blobs.Do(ctx, key, func(ctx context.Context) (struct{}, time.Duration, error) {
				err := r.blobExists(ctx, p, at(d.Digest.String()))
				// A blob can be deleted: its presence is kept like a tag.
				return struct{}{}, r.keep(err, r.tagTTL), err
			})
			part := image.PartLayer
			if i == 0 {
				part = image.PartConfig
			}
			if b, ok := brokenBy(manifest, part, d.Digest, err); ok {
				found[i] = &b
				return nil
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // the funcs report through found and firstErr
	if firstErr != nil {
		return nil, firstErr
	}
	var out []image.Broken
	for _, b := range found {
		if b != nil {
			out = append(out, *b)
		}
	}
	return out, nil
}

// brokenBy reports a lookup failure that says the registry does not have
// missing, as the Broken part of manifest it is; other failures are not.
func brokenBy(manifest v1.Hash, part image.Part, missing v1.Hash, err error) (image.Broken, bool) {
	if err == nil {
		return image.Broken{}, false
	}
	e := Classify("", "", err)
	if e.Class == image.NotFound {
		return image.Broken{Manifest: manifest, Part: part, Missing: missing, Answer: answerOf(e)}, true
	}
	if bad := (*badResponseError)(nil); errors.As(err, &bad) && part == image.PartManifest {
		// Content named by digest that does not parse is broken for good:
		// go-containerregistry checked that the bytes are the digest's.
		return image.Broken{Manifest: manifest, Part: part, Missing: missing, Answer: bad.what}, true
	}
	return image.Broken{}, false
}

// blobsOf reads the manifest at d and returns the blobs a pull fetches for
// it: its config first, then its layers. Foreign layers (Windows base
// layers with URLs) are fetched from elsewhere, and not asked for here. A
// nested index is accepted as it is: containerd would go on into it, and
// no node's platform picked one of its entries here.
func (r *Resolver) blobsOf(ctx context.Context, pull pullerFunc, d name.Digest) ([]v1.Descriptor, error) {
	p, err := pull(ctx)
	if err != nil {
		return nil, err
	}
	desc, err := p.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	mt := desc.MediaType
	if !mt.IsIndex() && !mt.IsImage() {
		mt = sniffMediaType(desc.Manifest)
	}
	switch {
	case mt.IsIndex():
		if _, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest)); err != nil {
			return nil, &badResponseError{what: "index manifest does not parse", err: err}
		}
		return nil, nil
	case mt.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, &badResponseError{what: "image manifest does not parse", err: err}
		}
		return blobsOfManifest(m), nil
	}
	return nil, &badResponseError{what: "answer is not an image manifest (media type " + quoteMT(desc.MediaType) + ")"}
}

// blobsOfManifest is the config, then the layers a pull fetches.
func blobsOfManifest(m *v1.Manifest) []v1.Descriptor {
	out := []v1.Descriptor{m.Config}
	for _, l := range m.Layers {
		if len(l.URLs) > 0 || !l.MediaType.IsDistributable() {
			continue
		}
		out = append(out, l)
	}
	return out
}

// blobExists asks for the blob with HEAD, which Docker Hub does not count
// as a pull.
func (r *Resolver) blobExists(ctx context.Context, pull pullerFunc, d name.Digest) error {
	p, err := pull(ctx)
	if err != nil {
		return err
	}
	l, err := p.Layer(ctx, d)
	if err != nil {
		return err
	}
	_, err = l.Size()
	return err
}
