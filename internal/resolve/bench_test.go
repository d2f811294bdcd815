package resolve

import (
	"context"
	"testing"
)

func BenchmarkResolveWarm(b *testing.B) {
	reg := newTestRegistry(b, nil)
	r := New()
	ref := reg.ref(b, "multi:1.0")
	creds := testCreds(b, reg.host, "u", "p")
	ctx := context.Background()
	if _, err := r.Resolve(ctx, Request{Ref: ref, Credentials: creds}); err != nil {
		b.Fatal(err)
	}
	before := reg.requests()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, Request{Ref: ref, Credentials: creds}); err != nil {
			b.Fatal(err)
		}
	}
	if n := reg.requests() - before; n != 0 {
		b.Fatalf("warm lookups made %d requests", n)
	}
}
