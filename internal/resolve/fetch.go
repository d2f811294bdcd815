package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/text"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nameOpts makes pkg/name use plain HTTP only for configured hosts.
func (r *Resolver) nameOpts(registry string) []name.Option {
	if r.isInsecure(registry) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// isInsecure matches "host:port" and "host" (any port), as the address
// guard does, in their canonical spelling.
func (r *Resolver) isInsecure(registry string) bool {
	registry = image.CanonicalHost(registry)
	if r.insecure[registry] {
		return true
	}
	host, _, err := net.SplitHostPort(registry)
	return err == nil && r.insecure[host]
}

// digestOf asks the registry which digest ref's tag names. A tag seen
// before whose digest's facts are kept is asked with HEAD, which Docker Hub
// does not count as a pull: most of the time the digest has not moved and
// nothing more is needed. Any other tag is asked with GET, whose answer
// carries the manifest too: its facts are kept under the digest (computed
// from the body), so a cold image costs one manifest request, not two.
func (r *Resolver) digestOf(ctx context.Context, ref image.Reference, original string, cred keychain.Credential) (v1.Hash, error) {
	nref, err := r.nameRef(ref)
	if err != nil {
		return v1.Hash{}, unnameable(original, ref, err)
	}
	p, err := r.puller(ctx, nref.Context(), cred.Identity, cred.Authenticator())
	if err != nil {
		return v1.Hash{}, Classify(original, ref.Registry, err)
	}
	if last, ok := r.tags.Last(tagKey(cred.Identity, ref)); ok && r.facts.Kept(factsKey(cred.Identity, ref, last.String())) {
		desc, err := p.Head(ctx, nref)
		if err == nil {
			return desc.Digest, nil
		}
		if !headCannotAnswer(err) {
			return v1.Hash{}, r.tagFailure(ctx, p, ref, original, err)
		}
		r.log.V(1).Info("HEAD cannot answer, using GET", "registry", ref.Registry, "repository", ref.Repository)
	}
	d, err := p.Get(ctx, nref)
	if err != nil {
		return v1.Hash{}, r.tagFailure(ctx, p, ref, original, err)
	}
	k, kerr := platformsOf(d)
	if kerr != nil {
		return v1.Hash{}, Classify(original, ref.Registry, kerr)
	}
	// Kept as factsOf would keep it.
	r.facts.Fill(factsKey(cred.Identity, ref, d.Digest.String()), k, r.keepKnown(k, nil))
	return d.Digest, nil
}

// tagFailure classifies a failed tag lookup, with the nearest tags for a
// NotFound.
func (r *Resolver) tagFailure(ctx context.Context, p *remote.Puller, ref image.Reference, original string, err error) error {
	e := Classify(original, ref.Registry, err)
	if e.Class == image.NotFound {
		e.Suggestions = r.suggest(ctx, p, ref)
	}
	return e
}

// headCannotAnswer reports whether a failed HEAD says nothing about the
// image, so GET should be asked: the registry refuses the method (405, 501,
// some 400s) or answers without the headers HEAD is read from. Answers about
// the image (401, 403, 404, 429, 5xx) and network failures are final.
func headCannotAnswer(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusBadRequest, http.StatusNotAcceptable:
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, _, blocked := classifyBlocked(err); blocked {
		return false
	}
	if errors.As(err, new(*registryStalledError)) {
		return false
	}
	// Left: go-containerregistry's complaints about missing or bad
	// Content-Type, Content-Length or Docker-Content-Digest headers.
	return true
}

// factsOf reads the manifest of ref's repository at dgst. An index gives its
// platforms; a single image its config's. remote.Image is never used on an
// index: it would silently pick linux/amd64.
func (r *Resolver) factsOf(ctx context.Context, ref image.Reference, dgst, original string, cred keychain.Credential) (known, error) {
	repo, err := r.repository(ref)
	if err != nil {
		return known{}, unnameable(original, ref, err)
	}
	nref := repo.Digest(dgst)
	p, err := r.puller(ctx, repo, cred.Identity, cred.Authenticator())
	if err != nil {
		return known{}, Classify(original, ref.Registry, err)
	}
	d, err := p.Get(ctx, nref)
	if err != nil {
		return known{}, Classify(original, ref.Registry, err)
	}
	k, err := platformsOf(d)
	if err != nil {
		return known{}, Classify(original, ref.Registry, err)
	}
	return k, nil
}

func platformsOf(d *remote.Descriptor) (known, error) {
	mt := d.MediaType
	if !mt.IsIndex() && !mt.IsImage() && !mt.IsSchema1() {
		// Some registries send a wrong or no Content-Type; the manifest
		// says what it is.
		mt = sniffMediaType(d.Manifest)
	}
	f := image.Facts{Digest: d.Digest, MediaType: mt}
	var blobs []v1.Descriptor
	switch {
	case mt.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(d.Manifest))
		if err != nil {
			return known{}, &badResponseError{what: "index manifest does not parse", err: err}
		}
		for _, m := range im.Manifests {
			switch {
			case m.Platform == nil && m.MediaType.IsImage():
				// containerd keeps an entry without a platform and matches
				// its config's instead (core/images/image.go Manifest).
				p, err := childPlatform(d, m.Digest)
				if err != nil {
					return known{}, err
				}
				if p != nil {
					f.Platforms = append(f.Platforms, *p)
					f.Manifests = append(f.Manifests, m.Digest)
				}
			case m.Platform == nil, m.Platform.OS == "unknown":
				// Attestations (unknown/unknown) match no node; a nested
				// index without a platform is not followed.
				continue
			default:
				f.Platforms = append(f.Platforms, *m.Platform)
				f.Manifests = append(f.Manifests, m.Digest)
			}
		}
	case mt.IsImage():
		img, err := d.Image()
		if err != nil {
			return known{}, &badResponseError{what: "image manifest does not parse", err: err}
		}
		m, err := img.Manifest()
		if err != nil {
			return known{}, &badResponseError{what: "image manifest does not parse", err: err}
		}
		blobs = blobsOfManifest(m)
		cfg, err := img.ConfigFile()
		if b, ok := brokenBy(d.Digest, image.PartConfig, m.Config.Digest, err); ok {
			// The pull fails on the config whatever the node.
			return known{facts: f, blobs: blobs, broken: []image.Broken{b}}, nil
		}
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) {
				return known{}, err
			}
			return known{}, &badResponseError{what: "image config does not parse", err: err}
		}
		if p := cfg.Platform(); p != nil {
			f.Platforms = []v1.Platform{*p}
		}
	case mt.IsSchema1():
		// Docker schema 1 names no platform pullguard can trust; policy
		// decides what an image without platforms means.
	default:
		return known{}, &badResponseError{what: "answer is not an image manifest (media type " + quoteMT(d.MediaType) + ")"}
	}
	return known{facts: f, blobs: blobs}, nil
}

// childPlatform is the config platform of the index d's image manifest
// dgst, nil when its config names none.
func childPlatform(d *remote.Descriptor, dgst v1.Hash) (*v1.Platform, error) {
	idx, err := d.ImageIndex()
	if err != nil {
		return nil, &badResponseError{what: "index manifest does not parse", err: err}
	}
	img, err := idx.Image(dgst)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			return nil, err
		}
		return nil, &badResponseError{what: "image config does not parse", err: err}
	}
	return cfg.Platform(), nil
}

func quoteMT(mt types.MediaType) string {
	if mt == "" {
		return "none"
	}
	return text.Truncate(string(mt), 100)
}

// sniffMediaType reads the media type a manifest declares, or infers it from
// its shape.
func sniffMediaType(b []byte) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	switch {
	case m.MediaType.IsIndex() || m.MediaType.IsImage():
		return m.MediaType
	case m.Manifests != nil:
		return types.OCIImageIndex
	case m.Config != nil:
		return types.OCIManifestSchema1
	}
	return ""
}
