package policies

import (
	"testing"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// BenchmarkEvaluate is a typical admission: a Pod with a few images, one
// warning, one failure, pinning and platform checks on.
func BenchmarkEvaluate(b *testing.B) {
	p, err := Compile(&v1alpha1.ImagePolicy{Spec: v1alpha1.ImagePolicySpec{
		PinDigests:        v1alpha1.PinTagAndDigest,
		ExemptImages:      []v1alpha1.ImagePattern{"registry.k8s.io/*"},
		AllowedRegistries: []v1alpha1.RegistryPattern{"ghcr.io", "docker.io", "*.example.com"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	cands := nodesOf(amd64, arm64)
	results := []Result{
		use(b, "ghcr.io/acme/api:v1.2.0", amd64, arm64v8),
		use(b, "nginx:1.27", amd64, arm64),
		use(b, "ghcr.io/acme/tool:latest", amd64),
		failed(b, "eu.example.com/acme/worker:v3", image.NotFound),
		use(b, "registry.k8s.io/pause:3.10", amd64, arm64),
	}
	for i := range results {
		results[i].Nodes = cands
	}
	in := Input{Object: podObject, Results: results}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Evaluate(in); d.Allowed {
			b.Fatal("want denied")
		}
	}
}

// Load never panics, whatever the file holds.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nspec: {exemptImages: ['*'], mirrors: [{from: a, to: b}]}\n"))
	f.Add([]byte(`{"apiVersion":"pullguard.io/v1alpha1","kind":"ImagePolicy","spec":{"namespaceSelector":{"matchExpressions":[{"key":"a","operator":"In"}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(data)
		if err == nil && p == nil {
			t.Fatal("nil policy without error")
		}
	})
}
