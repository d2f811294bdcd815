package resolve

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pullguard/pullguard/internal/image"
)

// nameRef is the go-containerregistry reference to ask the registry for: by
// digest when one was written (the digest wins when pulling), else by tag.
// It is built from the parts distribution/reference parsed, never re-parsed
// by pkg/name, whose rules differ (it reads "Foo/bar" as a Docker Hub path;
// the kubelet reads "Foo" as a host).
func (r *Resolver) nameRef(ref image.Reference) (name.Reference, error) {
	repo, err := r.repository(ref)
	if err != nil {
		return nil, err
	}
	if ref.Digest != "" {
		return repo.Digest(ref.Digest), nil
	}
	return repo.Tag(ref.Tag), nil
}

func (r *Resolver) repository(ref image.Reference) (name.Repository, error) {
	reg, err := name.NewRegistry(ref.Registry, r.nameOpts(ref.Registry)...)
	if err != nil {
		return name.Repository{}, err
	}
	return reg.Repo(ref.Path), nil
}

// unnameable is the failure for a registry host the kubelet accepts but
// go-containerregistry cannot address: pullguard cannot ask it, so it says
// so and leaves the verdict to the policy's onRegistryError.
func unnameable(original string, ref image.Reference, err error) *image.Error {
	return &image.Error{Class: image.Unreachable, Image: original, Registry: ref.Registry,
		Reason: fmt.Sprintf("pullguard cannot address registry %q: %v", ref.Registry, err), Err: err}
}
