package resolve

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// TestHandshakeOncePerRegistryAndScope: against a bearer-token registry,
// the ping is sent once per registry and a token fetched once per
// repository and credential, not per lookup: a new image in a new
// repository costs ping, token and one manifest GET on a single-platform
// cluster plus the entry's manifest; a new tag of a known repository only
// its manifests.
func TestHandshakeOncePerRegistryAndScope(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithBearerAuth("", ""))
	reg.PushIndex(t, "team/app:v1", linuxAMD64)
	reg.PushIndex(t, "team/app:v2", linuxAMD64)
	reg.PushImage(t, "team/other:v1", linuxAMD64)
	r := New()
	steps := []struct {
		image string
		want  map[registrytest.Kind]int
	}{
		{"team/app:v1", map[registrytest.Kind]int{registrytest.Ping: 1, registrytest.Token: 1, registrytest.ManifestGet: 2}},
		{"team/app:v2", map[registrytest.Kind]int{registrytest.ManifestGet: 2}},
		// A single image's platform is in its config blob.
		{"team/other:v1", map[registrytest.Kind]int{registrytest.Token: 1, registrytest.ManifestGet: 1, registrytest.Blob: 1}},
		{"team/app:v1", map[registrytest.Kind]int{}},
	}
	for _, s := range steps {
		before := reg.Kinds()
		ref, err := image.Parse(reg.Ref(s.image))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Resolve(testContext(t), Request{Ref: ref, Platforms: []v1.Platform{linuxAMD64}}); err != nil {
			t.Fatalf("%s: %v", s.image, err)
		}
		got := map[registrytest.Kind]int{}
		for k, n := range reg.Kinds() {
			if d := n - before[k]; d > 0 {
				got[k] = d
			}
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: requests by kind (-want +got):\n%s", s.image, diff)
		}
	}
}
