//go:build e2e

package e2e

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/examples/demo/walkthrough"
	"github.com/pullguard/pullguard/test/bed"
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

// fixtureImages are every image the cases name, and the demo's.
func fixtureImages(pub, priv *bed.Registry) []bed.Image {
	both := []v1.Platform{bed.AMD64, bed.ARM64}
	return append([]bed.Image{
		{Registry: pub, Repo: repoAPI, Tag: tagAPI, Platforms: both},
		{Registry: pub, Repo: repoAPI, Tag: tagAPINext, Platforms: both},
		{Registry: pub, Repo: repoAMD64, Tag: tagSingleArch, Platforms: []v1.Platform{bed.AMD64}},
		{Registry: pub, Repo: repoARM64, Tag: tagSingleArch, Platforms: []v1.Platform{bed.ARM64}},
		{Registry: pub, Repo: repoRedis, Tag: "latest", Platforms: both},
		{Registry: priv, Repo: repoBilling, Tag: tagBilling, Platforms: both},
		// The mirror is a copy of shop/api:v1.2.0 under another prefix of
		// the public registry: same digest, another name.
		{Registry: pub, Repo: mirrorPrefix + "/" + repoAPI, Tag: tagAPI, CopyOf: pub.Ref(repoAPI, tagAPI)},
	}, walkthrough.Images(pub, priv)...)
}

func pub(repo, tag string) string  { return the.Public.Ref(repo, tag) }
func priv(repo, tag string) string { return the.Private.Ref(repo, tag) }

// digest is a fixture's digest, by reference as written.
func digest(ref string) v1.Hash { return the.Digests[ref] }
