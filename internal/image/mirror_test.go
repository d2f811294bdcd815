package image

import (
	"testing"
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
		ref, err := Parse(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		_, got, ok, err := MirrorFor(tt.rules, ref)
		if err != nil {
			t.Fatalf("MirrorFor(%q): %v", tt.ref, err)
		}
		if gotS := map[bool]string{true: got.Original}[ok]; gotS != tt.want {
			t.Errorf("MirrorFor(%q) = %q, want %q", tt.ref, gotS, tt.want)
		}
	}
	ref, _ := Parse("nginx")
	if _, _, _, err := MirrorFor([]Mirror{{From: "docker.io", To: "Bad Host"}}, ref); err == nil {
		t.Error("a mirror giving an invalid reference: want an error")
	}
}
