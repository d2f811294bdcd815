package resolve

import (
	"errors"
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-cmp/cmp"
)

func TestNearestTags(t *testing.T) {
	t.Parallel()
	tags := []string{"latest", "v1.2.0", "v1.2.1", "v1.10.0", "v2.0.0", "1.2", "v1.3", "stable", "v1.2.0"}
	tests := []struct {
		missing string
		want    []string
	}{
		// Extensions first, then distance 1, ties in lexical order.
		{"v1.2", []string{"v1.2.0", "v1.2.1", "1.2"}},
		{"lates", []string{"latest"}},
		{"v2.0", []string{"v2.0.0", "v1.2.0", "v1.3"}},
		{"unrelated-name", nil},
		{"v1.2.0", []string{"v1.2.1", "v1.10.0", "v2.0.0"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, nearestTags(tt.missing, tags, maxSuggestions)); diff != "" {
			t.Errorf("nearestTags(%q) (-want +got):\n%s", tt.missing, diff)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"v1.2", "v1.3", 1}, {"1.27", "1.27.0", 2}} {
		if got := editDistance(tt.a, tt.b); got != tt.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

func TestNotFoundSuggestsNearbyTags(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, nil)
	r := New()
	ref := reg.ref(t, "multi:v1.2")
	_, err := r.Resolve(testContext(t), Request{Ref: ref})
	var e *image.Error
	if !errors.As(err, &e) || e.Class != image.NotFound {
		t.Fatalf("Resolve = %v, want image.NotFound", err)
	}
	// The repository holds 1.0, latest, v1.2.0, v1.2.1, v1.10.0, v2.0.0.
	if diff := cmp.Diff([]string{"v1.2.0", "v1.2.1", "1.0"}, e.Suggestions); diff != "" {
		t.Errorf("suggestions (-want +got):\n%s", diff)
	}
	// Kept with the NotFound: the tag list is not read again.
	before := reg.count("GET /v2/multi/tags/list")
	_, err = r.Resolve(testContext(t), Request{Ref: ref})
	if !errors.As(err, &e) || len(e.Suggestions) != 3 {
		t.Errorf("cached image.NotFound = %v (suggestions %v), want the same suggestions", err, e.Suggestions)
	}
	if got := reg.count("GET /v2/multi/tags/list") - before; got != 0 {
		t.Errorf("cached image.NotFound listed tags %d times, want 0", got)
	}
}

func TestNewestVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tags []string
		want []string
	}{
		{[]string{"v1.2.0", "main", "1.10.0", "v1.9.3", "v2.0.0-rc.1", "sha-abc"}, []string{"v2.0.0-rc.1", "1.10.0", "v1.9.3"}},
		{[]string{"main", "stable"}, nil},
		{nil, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, newestVersions(tt.tags, maxSuggestions)); diff != "" {
			t.Errorf("newestVersions(%q) (-want +got):\n%s", tt.tags, diff)
		}
	}
}
