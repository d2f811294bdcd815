package resolve

import (
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-cmp/cmp"
)

func TestStats(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New()
	byTag := reg.ref(t, "multi:1.0")
	byDigest := reg.ref(t, "multi@"+reg.fx.index.String())
	steps := []struct {
		ref  image.Reference
		want CacheStats
	}{
		// A cold tag misses both caches; the GET by tag keeps the
		// digest's facts, which the lookup then finds.
		{byTag, CacheStats{TagMisses: 1, DigestHits: 1}},
		// Warm, it hits both.
		{byTag, CacheStats{TagHits: 1, TagMisses: 1, DigestHits: 2}},
		// A digest skips the tag cache and finds the facts kept.
		{byDigest, CacheStats{TagHits: 1, TagMisses: 1, DigestHits: 3}},
	}
	for i, s := range steps {
		if _, err := r.Resolve(testContext(t), Request{Ref: s.ref}); err != nil {
			t.Fatalf("step %d: Resolve(%q): %v", i, s.ref.Original, err)
		}
		if diff := cmp.Diff(s.want, r.Stats()); diff != "" {
			t.Errorf("step %d: Stats() (-want +got):\n%s", i, diff)
		}
	}
}
