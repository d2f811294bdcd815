package background_test

import (
	"context"
	"fmt"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// BenchmarkCycle is one full cycle over 5,000 Deployments in 50 namespaces
// naming 500 images of one in-process registry: list from the client,
// check through decide and the resolver (which keeps no tag answer, so
// every cycle sends one HEAD per image, as a cycle ten minutes after the
// last does), and write 50 Reports. The rate limit is lifted: this
// measures pullguard's own cost; at the default 5 lookups per second a
// 500-image registry takes 100 s by design.
func BenchmarkCycle(b *testing.B) {
	w := benchWorld(b)
	ctx := context.Background()
	watcher := background.New(background.Options{
		Checker: w.checker(1e6), Reader: w.client, Reports: w.client, Events: &events{}, Recorder: &gauges{},
	})
	if err := watcher.Cycle(ctx); err != nil { // digests into the cache, Reports created
		b.Fatal(err)
	}
	if rep := w.report(b, "ns00"); rep == nil || len(rep.Results) != benchWorkloads/benchNamespaces || rep.Summary.Pass != benchWorkloads/benchNamespaces {
		b.Fatalf("ns00's Report: %+v, want %d passing results", rep, benchWorkloads/benchNamespaces)
	}
	headsBefore := w.reg.Kinds()[registrytest.ManifestHead]
	before := w.reg.Requests()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := watcher.Cycle(ctx); err != nil {
			b.Fatal(err)
		}
	}
	heads := w.reg.Kinds()[registrytest.ManifestHead]
	b.ReportMetric(float64(w.reg.Requests()-before)/float64(b.N), "registry-requests/cycle")
	b.ReportMetric(float64(heads-headsBefore)/float64(b.N), "manifest-HEADs/cycle")
}

// BenchmarkCheck is the judging part of BenchmarkCycle alone: the same
// 5,000 workloads, already listed, through decide and the resolver.
func BenchmarkCheck(b *testing.B) {
	w := benchWorld(b)
	ctx := context.Background()
	ws, err := background.Collect(ctx, w.client, "")
	if err != nil || len(ws) != benchWorkloads {
		b.Fatalf("Collect: %d workloads, %v", len(ws), err)
	}
	c := w.checker(1e6)
	c.Check(ctx, ws) // digests into the cache
	b.ReportAllocs()
	b.ResetTimer()
	var lookups int64
	for b.Loop() {
		_, stats := c.Check(ctx, ws)
		lookups += stats.Lookups
	}
	b.ReportMetric(float64(lookups)/float64(b.N), "lookups/cycle")
}

const benchWorkloads, benchImages, benchNamespaces = 5000, 500, 50

// benchWorld holds the benchmarks' 5,000 Deployments in 50 namespaces,
// naming 500 images of one in-process registry.
func benchWorld(b *testing.B) *world {
	const workloads, images, namespaces = benchWorkloads, benchImages, benchNamespaces
	var objs []client.Object
	for i := range namespaces {
		ns := fmt.Sprintf("ns%02d", i)
		objs = append(objs, namespace(ns, nil), serviceAccount(ns))
	}
	w := newWorld(b, objs...)
	refs := make([]string, images)
	for i := range images {
		repo := fmt.Sprintf("team/app%03d:v1", i)
		w.reg.PushImage(b, repo, amd64)
		refs[i] = w.reg.Ref(repo)
	}
	ctx := context.Background()
	for i := range workloads {
		d := deployment(fmt.Sprintf("ns%02d", i%namespaces), fmt.Sprintf("d%04d", i), refs[i%images])
		if err := w.client.Create(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	return w
}
