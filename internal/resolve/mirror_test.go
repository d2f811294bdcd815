package resolve

import (
	"errors"
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-cmp/cmp"
)

func TestResolveThroughMirror(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, nil)
	mir := newTestRegistry(t, nil)
	tests := []struct {
		name     string
		mirror   image.Mirror
		wantRepo string // "" when the lookup fails
		class    image.Class
		registry string
	}{
		{"mirror answers", image.Mirror{From: src.host, To: mir.host}, mir.host + "/multi", "", ""},
		{"mirror lacks it", image.Mirror{From: src.host, To: mir.host + "/empty"}, "", image.NotFound, mir.host},
		{"mirror lacks it, fallback", image.Mirror{From: src.host, To: mir.host + "/empty", FallbackToSource: true}, src.host + "/multi", "", ""},
		{"mirror down, fallback", image.Mirror{From: src.host, To: "127.0.0.1:1", FallbackToSource: true}, src.host + "/multi", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := src.ref(t, "multi:1.0")
			facts, err := New(WithSuggestions(0, 0)).Resolve(testContext(t), Request{Ref: ref, Mirrors: []image.Mirror{tt.mirror}})
			if tt.wantRepo == "" {
				var e *image.Error
				if !errors.As(err, &e) || e.Class != tt.class || e.Registry != tt.registry || e.Image != ref.Original {
					t.Fatalf("Resolve = %+v, want %s from %s for %q", err, tt.class, tt.registry, ref.Original)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if facts.ResolvedRepository != tt.wantRepo {
				t.Errorf("ResolvedRepository = %q, want %q", facts.ResolvedRepository, tt.wantRepo)
			}
			wantDigest := src.fx.index
			if tt.wantRepo == mir.host+"/multi" {
				wantDigest = mir.fx.index
			}
			if diff := cmp.Diff(wantDigest.String(), facts.Digest.String()); diff != "" {
				t.Errorf("digest (-want +got):\n%s", diff)
			}
		})
	}
}
