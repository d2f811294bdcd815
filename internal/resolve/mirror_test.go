package resolve

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMirrorFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref   string
		rules []Mirror
		want  string // the mirrored reference, "" for none
	}{
		{"nginx:1.27", []Mirror{{From: "docker.io", To: "mirror.example.com/dockerhub"}}, "mirror.example.com/dockerhub/library/nginx:1.27"},
		{"nginx:1.27", []Mirror{{From: "registry-1.docker.io", To: "mirror.example.com/dockerhub"}}, "mirror.example.com/dockerhub/library/nginx:1.27"},
		{"docker.io/library/nginx", []Mirror{{From: "index.docker.io", To: "m.example.com/hub/"}}, "m.example.com/hub/library/nginx"},
		{"nginx@" + testDigest, []Mirror{{From: "docker.io/library", To: "m.example.com/lib"}}, "m.example.com/lib/nginx@" + testDigest},
		{"ghcr.io/acme/api:v1", []Mirror{{From: "ghcr.io/acme/api", To: "m.example.com/api"}}, "m.example.com/api:v1"},
		// Prefixes match on a path boundary only.
		{"ghcr.io/acmecorp/api:v1", []Mirror{{From: "ghcr.io/acme", To: "m.example.com/acme"}}, ""},
		{"ghcr.io/acme/api:v1", []Mirror{{From: "docker.io", To: "x.example.com"}}, ""},
		// The first matching rule wins.
		{"ghcr.io/acme/api:v1", []Mirror{{From: "ghcr.io/acme", To: "a.example.com"}, {From: "ghcr.io", To: "b.example.com"}}, "a.example.com/api:v1"},
	}
	for _, tt := range tests {
		ref, err := ParseReference(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		_, got, ok, err := mirrorFor(tt.rules, ref)
		if err != nil {
			t.Fatalf("mirrorFor(%q): %v", tt.ref, err)
		}
		if gotS := map[bool]string{true: got.Original}[ok]; gotS != tt.want {
			t.Errorf("mirrorFor(%q) = %q, want %q", tt.ref, gotS, tt.want)
		}
	}
	ref, _ := ParseReference("nginx")
	if _, _, _, err := mirrorFor([]Mirror{{From: "docker.io", To: "Bad Host"}}, ref); err == nil {
		t.Error("a mirror giving an invalid reference: want an error")
	}
}

func TestResolveThroughMirror(t *testing.T) {
	t.Parallel()
	src := newTestRegistry(t, nil)
	mir := newTestRegistry(t, nil)
	tests := []struct {
		name     string
		mirror   Mirror
		wantRepo string // "" when the lookup fails
		class    Class
		registry string
	}{
		{"mirror answers", Mirror{From: src.host, To: mir.host}, mir.host + "/multi", "", ""},
		{"mirror lacks it", Mirror{From: src.host, To: mir.host + "/empty"}, "", NotFound, mir.host},
		{"mirror lacks it, fallback", Mirror{From: src.host, To: mir.host + "/empty", FallbackToSource: true}, src.host + "/multi", "", ""},
		{"mirror down, fallback", Mirror{From: src.host, To: "127.0.0.1:1", FallbackToSource: true}, src.host + "/multi", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref := src.ref(t, "multi:1.0")
			facts, err := New(WithSuggestions(0, 0)).Resolve(testContext(t), Request{Ref: ref, Mirrors: []Mirror{tt.mirror}})
			if tt.wantRepo == "" {
				var e *Error
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
