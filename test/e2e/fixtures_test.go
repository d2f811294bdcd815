//go:build e2e

package e2e

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/fixtures"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// Repositories of the fixtures, relative to their registry.
const (
	repoAPI       = "shop/api"        // v1.2.0, v1.2.1: linux/amd64 + linux/arm64
	repoAMD64     = "shop/amd64-only" // v1: a single linux/amd64 image
	repoARM64     = "shop/arm64-only" // v1: a single linux/arm64 image
	repoRedis     = "library/redis"   // latest: both platforms
	repoBilling   = "team/billing"    // v3, on the private registry only
	mirrorPrefix  = "mirror"          // the mirror holds shop/api under mirror/shop/api
	tagAPI        = "v1.2.0"
	tagAPINext    = "v1.2.1"
	tagSingleArch = "v1"
	tagBilling    = "v3"
)

// images are the fixtures' digests, by reference as written in manifests.
type images struct {
	digests map[string]v1.Hash
}

func (im *images) digest(ref string) v1.Hash { return im.digests[ref] }

// pushFixtures pushes every image the cases name.
func pushFixtures(ctx context.Context, ca *authority, pub, priv *registry) (*images, error) {
	im := &images{digests: map[string]v1.Hash{}}
	both := []v1.Platform{amd64, arm64}
	type push struct {
		reg       *registry
		repo, tag string
		platforms []v1.Platform // one: a single image; more: an index
	}
	pushes := []push{
		{pub, repoAPI, tagAPI, both},
		{pub, repoAPI, tagAPINext, both},
		{pub, repoAMD64, tagSingleArch, []v1.Platform{amd64}},
		{pub, repoARM64, tagSingleArch, []v1.Platform{arm64}},
		{pub, repoRedis, "latest", both},
		{priv, repoBilling, tagBilling, both},
	}
	for _, p := range pushes {
		written := fmt.Sprintf("%s/%s:%s", p.reg.host, p.repo, p.tag)
		ref, err := name.ParseReference(written, name.StrictValidation)
		if err != nil {
			return nil, err
		}
		opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(ca.transport()), remote.WithAuth(p.reg.auth())}
		var h v1.Hash
		if len(p.platforms) == 1 {
			h, err = fixtures.PushImage(ref, p.platforms[0], opts...)
		} else {
			h, err = fixtures.PushIndex(ref, p.platforms, opts...)
		}
		if err != nil {
			return nil, err
		}
		im.digests[written] = h
	}
	// The mirror is a copy of shop/api:v1.2.0 under another prefix of the
	// public registry: same digest, another name.
	src := fmt.Sprintf("%s/%s:%s", pub.host, repoAPI, tagAPI)
	dst := fmt.Sprintf("%s/%s/%s:%s", pub.host, mirrorPrefix, repoAPI, tagAPI)
	if err := copyIndex(ctx, ca, src, dst); err != nil {
		return nil, err
	}
	im.digests[dst] = im.digests[src]
	return im, nil
}

func copyIndex(ctx context.Context, ca *authority, src, dst string) error {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(ca.transport())}
	from, err := name.ParseReference(src, name.StrictValidation)
	if err != nil {
		return err
	}
	to, err := name.ParseReference(dst, name.StrictValidation)
	if err != nil {
		return err
	}
	idx, err := remote.Index(from, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := remote.WriteIndex(to, idx, opts...); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}
