package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Reference
	}{
		{"nginx", Reference{Repository: "index.docker.io/library/nginx", Registry: "index.docker.io", Tag: "latest", Form: FormImplicitLatest}},
		{"nginx:latest", Reference{Repository: "index.docker.io/library/nginx", Registry: "index.docker.io", Tag: "latest", Form: FormLatest}},
		{"nginx:1.27", Reference{Repository: "index.docker.io/library/nginx", Registry: "index.docker.io", Tag: "1.27", Form: FormTag}},
		{"docker.io/acme/api:V2", Reference{Repository: "index.docker.io/acme/api", Registry: "index.docker.io", Tag: "V2", Form: FormTag}},
		{"nginx@" + testDigest, Reference{Repository: "index.docker.io/library/nginx", Registry: "index.docker.io", Digest: testDigest, Form: FormDigest}},
		{"nginx:1.27@" + testDigest, Reference{Repository: "index.docker.io/library/nginx", Registry: "index.docker.io", Tag: "1.27", Digest: testDigest, Form: FormTagDigest}},
		{"ghcr.io/acme/api:v1.2", Reference{Repository: "ghcr.io/acme/api", Registry: "ghcr.io", Tag: "v1.2", Form: FormTag}},
		{"127.0.0.1:5000/a/b", Reference{Repository: "127.0.0.1:5000/a/b", Registry: "127.0.0.1:5000", Tag: "latest", Form: FormImplicitLatest}},
		{"localhost/x_y.z-w:t", Reference{Repository: "localhost/x_y.z-w", Registry: "localhost", Tag: "t", Form: FormTag}},
		{"registry.local:5000/team/app:1@" + testDigest, Reference{Repository: "registry.local:5000/team/app", Registry: "registry.local:5000", Tag: "1", Digest: testDigest, Form: FormTagDigest}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseReference(tt.in)
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			tt.want.Original = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseReference(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseReferenceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, reason string // reason: a substring of Reason
	}{
		{"", "reference is empty"},
		{" nginx", "leading or trailing whitespace"},
		{"nginx\n", "leading or trailing whitespace"},
		{"Nginx", `repository must be lower case: "Nginx"`},
		{"ghcr.io/Acme/api:v1", `repository must be lower case: "Acme/api"`},
		{"https://ghcr.io/acme/api", "URL scheme"},
		{"nginx:", `tag is empty after ":"`},
		{"nginx:-x", `tag "-x" must be`},
		{"nginx:" + strings.Repeat("a", 129), "must be 1 to 128"},
		{"nginx@sha256:abc", "has the wrong length"},
		{"nginx@md5:0123456789abcdef0123456789abcdef", "unsupported algorithm"},
		{"nginx@", "is malformed"},
		{"nginx@" + testDigest + "@" + testDigest, `more than one "@"`},
		{"acme//api", "empty path component"},
		{"acme/api/", "empty path component"},
		{"-acme/api", `component "-acme"`},
		{"acme/api_", `component "api_"`},
		{"ac me", "whitespace, control or non-ASCII"},
		{"acmé", "non-ASCII"},
		{"ghcr.io/", "repository is empty"},
		{":tag", "repository is empty"},
		{"ghcr.io:port/acme", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseReference(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseReference(%q) = %v, want *Error", tt.in, err)
			}
			if e.Class != InvalidReference || e.Image != tt.in || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("ParseReference(%q) = {%s %q %q}, want {InvalidReference %q ...%q...}", tt.in, e.Class, e.Image, e.Reason, tt.in, tt.reason)
			}
		})
	}
}

func TestReferenceStrings(t *testing.T) {
	t.Parallel()
	d, err := v1.NewHash(testDigest)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in                          string
		str, pinKeep, pin, onMirror string
	}{
		{"nginx:1.27", "index.docker.io/library/nginx:1.27", "nginx:1.27@" + testDigest, "nginx@" + testDigest, "m.example.com/hub/library/nginx:1.27"},
		{"nginx", "index.docker.io/library/nginx", "nginx@" + testDigest, "nginx@" + testDigest, "m.example.com/hub/library/nginx"},
		{"docker.io/library/nginx:latest", "index.docker.io/library/nginx:latest", "docker.io/library/nginx:latest@" + testDigest, "docker.io/library/nginx@" + testDigest, "m.example.com/hub/library/nginx:latest"},
		{"localhost:5000/a:1@" + testDigest, "localhost:5000/a:1@" + testDigest, "localhost:5000/a:1@" + testDigest, "localhost:5000/a@" + testDigest, "m.example.com/hub/library/nginx:1@" + testDigest},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			ref, err := ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ref.WithRepository("m.example.com/hub/library/nginx")
			if err != nil {
				t.Fatal(err)
			}
			got := []string{ref.String(), ref.PinnedString(d, true), ref.PinnedString(d, false), m.Original}
			want := []string{tt.str, tt.pinKeep, tt.pin, tt.onMirror}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if m.Form != ref.Form || m.Tag != ref.Tag || m.Digest != ref.Digest {
				t.Errorf("WithRepository changed form/tag/digest: %+v vs %+v", m, ref)
			}
		})
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"nginx", "nginx:latest", "Nginx", "ghcr.io/a/b:v1@" + testDigest, "localhost:5000/x",
		"a//b", "docker.io/library/nginx", "index.docker.io/nginx:1", "x@sha256:", " x", "1.2.3.4:80/a:b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Class != InvalidReference || e.Reason == "" {
				t.Fatalf("ParseReference(%q) error %v is not a reasoned InvalidReference", s, err)
			}
			return
		}
		again, err := ParseReference(ref.String())
		if err != nil {
			t.Fatalf("String() %q of valid %q does not parse: %v", ref.String(), s, err)
		}
		again.Original = ref.Original
		if diff := cmp.Diff(ref, again); diff != "" {
			t.Fatalf("ParseReference(%q).String() = %q parses differently (-first +again):\n%s", s, ref.String(), diff)
		}
		if ref.Repository == "" || ref.Registry == "" || (ref.Tag == "" && ref.Digest == "") {
			t.Fatalf("ParseReference(%q) = %+v lacks parts", s, ref)
		}
	})
}
