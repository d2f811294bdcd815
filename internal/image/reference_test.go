package image

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	t.Parallel()
	hub := func(path, tag, dgst string, f Form) Reference {
		return Reference{Repository: "docker.io/" + path, Registry: "docker.io", Path: path, Tag: tag, Digest: dgst, Form: f}
	}
	tests := []struct {
		in   string
		want Reference
	}{
		{"nginx", hub("library/nginx", "latest", "", FormImplicitLatest)},
		{"nginx:latest", hub("library/nginx", "latest", "", FormLatest)},
		{"nginx:1.27", hub("library/nginx", "1.27", "", FormTag)},
		{"docker.io/acme/api:V2", hub("acme/api", "V2", "", FormTag)},
		{"index.docker.io/nginx:1", hub("library/nginx", "1", "", FormTag)},
		{"nginx@" + testDigest, hub("library/nginx", "", testDigest, FormDigest)},
		{"nginx:1.27@" + testDigest, hub("library/nginx", "1.27", testDigest, FormTagDigest)},
		{"ghcr.io/acme/api:v1.2", Reference{Repository: "ghcr.io/acme/api", Registry: "ghcr.io", Path: "acme/api", Tag: "v1.2", Form: FormTag}},
		{"127.0.0.1:5000/a/b", Reference{Repository: "127.0.0.1:5000/a/b", Registry: "127.0.0.1:5000", Path: "a/b", Tag: "latest", Form: FormImplicitLatest}},
		{"localhost/x_y.z-w:t", Reference{Repository: "localhost/x_y.z-w", Registry: "localhost", Path: "x_y.z-w", Tag: "t", Form: FormTag}},
		{"[::1]:5000/a:1", Reference{Repository: "[::1]:5000/a", Registry: "[::1]:5000", Path: "a", Tag: "1", Form: FormTag}},
		// An upper-case first component is a host to the kubelet, not a
		// lower-case violation: the pull goes to host "Foo".
		{"Foo/bar:1", Reference{Repository: "Foo/bar", Registry: "Foo", Path: "bar", Tag: "1", Form: FormTag}},
		// "my_reg.io" fits the path grammar, not the domain grammar:
		// valid, and containerd dials host "my_reg.io".
		{"my_reg.io/x", Reference{Repository: "my_reg.io/x", Registry: "my_reg.io", Path: "x", Tag: "latest", Form: FormImplicitLatest}},
		// registry-1.docker.io is a host of its own to the kubelet's parser.
		{"registry-1.docker.io/library/nginx:1", Reference{Repository: "registry-1.docker.io/library/nginx", Registry: "registry-1.docker.io", Path: "library/nginx", Tag: "1", Form: FormTag}},
		{"registry.local:5000/team/app:1@" + testDigest, Reference{Repository: "registry.local:5000/team/app", Registry: "registry.local:5000", Path: "team/app", Tag: "1", Digest: testDigest, Form: FormTagDigest}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			tt.want.Original = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
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
		{"nginx@sha256:abc", "is malformed"},
		{"nginx@sha256:0123456789abcdef0123456789abcdef", "has the wrong length"},
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
		{"ghcr.io:port/acme", `port "port" must be a number`},
		{"host:/x", "empty port"},
		{"a..b/x", "empty DNS label"},
		{"a.b./x", "empty DNS label"},
		{"-a.b/x", `DNS label "-a" must not start or end with '-'`},
		{"a-.b/x", `DNS label "a-" must not start or end with '-'`},
		{"my_reg.io:5000/x", `DNS label "my_reg" may hold only`},
		{"::1/x", "IPv6 address must be in brackets"},
		{"[::1/x", "closing ']'"},
		{"[zz]:5000/x", `hex digits and ':' is allowed, not "[zz]"`},
		{"/[fc00::1]", "empty path component"},
		{strings.Repeat("a", 64), "image ID, not a repository name"},
		{strings.Repeat("a", 250), "at most 255"}, // "library/" makes it 258
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %v, want *Error", tt.in, err)
			}
			if e.Class != InvalidReference || e.Image != tt.in || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("Parse(%q) = {%s %q %q}, want {InvalidReference %q ...%q...}", tt.in, e.Class, e.Image, e.Reason, tt.in, tt.reason)
			}
			if !strings.HasSuffix(e.Reason, "InvalidImageName") {
				t.Errorf("Parse(%q) reason %q does not say what the kubelet does", tt.in, e.Reason)
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
		in                                     string
		str, qualified, pinKeep, pin, onMirror string
	}{
		{"nginx:1.27", "docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27", "nginx:1.27@" + testDigest, "nginx@" + testDigest, "m.example.com/hub/library/nginx:1.27"},
		{"nginx", "docker.io/library/nginx", "docker.io/library/nginx:latest", "nginx@" + testDigest, "nginx@" + testDigest, "m.example.com/hub/library/nginx"},
		{"docker.io/library/nginx:latest", "docker.io/library/nginx:latest", "docker.io/library/nginx:latest", "docker.io/library/nginx:latest@" + testDigest, "docker.io/library/nginx@" + testDigest, "m.example.com/hub/library/nginx:latest"},
		{"localhost:5000/a:1@" + testDigest, "localhost:5000/a:1@" + testDigest, "localhost:5000/a:1@" + testDigest, "localhost:5000/a:1@" + testDigest, "localhost:5000/a@" + testDigest, "m.example.com/hub/library/nginx:1@" + testDigest},
		{"localhost:5000/a@" + testDigest, "localhost:5000/a@" + testDigest, "localhost:5000/a@" + testDigest, "localhost:5000/a@" + testDigest, "localhost:5000/a@" + testDigest, "m.example.com/hub/library/nginx@" + testDigest},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			ref, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ref.WithRepository("m.example.com/hub/library/nginx")
			if err != nil {
				t.Fatal(err)
			}
			got := []string{ref.String(), ref.Qualified(), ref.Pinned(d, true), ref.Pinned(d, false), m.Original}
			want := []string{tt.str, tt.qualified, tt.pinKeep, tt.pin, tt.onMirror}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if m.Form != ref.Form || m.Tag != ref.Tag || m.Digest != ref.Digest {
				t.Errorf("WithRepository changed form/tag/digest: %+v vs %+v", m, ref)
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"docker.io": "docker.io", "index.docker.io": "docker.io", " Registry-1.Docker.IO ": "docker.io",
		"GHCR.io": "ghcr.io", "127.0.0.1:5000": "127.0.0.1:5000", "docker.io:443": "docker.io:443",
	} {
		if got := CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}
