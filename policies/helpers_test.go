package policies

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// The digest every fake registry answers with.
var testDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}

var (
	amd64   = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64   = v1.Platform{OS: "linux", Architecture: "arm64"}
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	windows = v1.Platform{OS: "windows", Architecture: "amd64"}
)

// ref builds what image.Parse gives for the common forms, so these
// tests do not depend on the parser: "nginx", "nginx:1.27", "ghcr.io/a/b:latest",
// "x@sha256:…", "x:t@sha256:…".
func ref(t testing.TB, s string) image.Reference {
	t.Helper()
	r := image.Reference{Original: s}
	name, digest, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		r.Digest = digest
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
	}
	switch {
	case hasDigest && r.Tag != "":
		r.Form = image.FormTagDigest
	case hasDigest:
		r.Form = image.FormDigest
	case r.Tag == "":
		r.Form, r.Tag = image.FormImplicitLatest, "latest"
	case r.Tag == "latest":
		r.Form = image.FormLatest
	default:
		r.Form = image.FormTag
	}
	first, rest, ok := strings.Cut(name, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !ok {
			name = "library/" + name
		}
		first, rest = "index.docker.io", name
	}
	r.Registry = first
	r.Repository = first + "/" + rest
	return r
}

var testPod = &workload.PodContext{SpecPointer: "/spec", ImagePullSecrets: []string{"regcred"}}

// use is a resolved image use of container "app" in testPod.
func use(t testing.TB, img string, platforms ...v1.Platform) Result {
	t.Helper()
	r := Result{
		Use: workload.ImageUse{Container: "app", Kind: workload.Container, Image: img, Pointer: "/spec/containers/0/image", Pod: testPod},
		Ref: ref(t, img),
	}
	r.Facts = &image.Facts{Digest: testDigest, Platforms: platforms, ResolvedRepository: r.Ref.Repository}
	if len(platforms) > 0 {
		r.Facts.MediaType = types.OCIImageIndex
	}
	return r
}

// nodesOf is one node per platform, holding nothing known.
func nodesOf(ps ...v1.Platform) []Node {
	var out []Node
	for i, p := range ps {
		out = append(out, Node{Name: "node-" + string(rune('a'+i)), Platform: p})
	}
	return out
}

// failed is a use whose resolution failed with class c.
func failed(t testing.TB, img string, c image.Class) Result {
	t.Helper()
	r := use(t, img)
	r.Facts = nil
	r.Err = &image.Error{Class: c, Image: img, Registry: r.Ref.Registry, Reason: "registry answered something"}
	return r
}

var podObject = workload.Object{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "web"}

func compile(t testing.TB, spec v1alpha1.ImagePolicySpec) *Policy {
	t.Helper()
	p, err := Compile(&v1alpha1.ImagePolicy{Spec: spec})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}
