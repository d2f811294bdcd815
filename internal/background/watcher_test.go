package background_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/image"
)

// results are a report's results in short: "Kind/name container result rule".
func results(rep *reportsv1alpha1.Report) []string {
	if rep == nil {
		return nil
	}
	var out []string
	for _, r := range rep.Results {
		out = append(out, r.Subjects[0].Kind+"/"+r.Subjects[0].Name+" "+r.Properties["container"]+" "+string(r.Result)+" "+r.Rule)
	}
	return out
}

func cycle(t *testing.T, w *background.Watcher) {
	t.Helper()
	if err := w.Cycle(context.Background()); err != nil {
		t.Fatalf("Cycle: %v", err)
	}
}

// TestWatcherLifecycle follows a Deployment through the story the feature
// is for: admitted and passing; its tag deleted (fail, one Event, the gauge
// moves); cycles go on (no second Event, the Report unchanged); the tag
// pushed again (pass, no Event); the Deployment deleted (its results gone).
func TestWatcherLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, namespace("shop", nil), serviceAccount("shop"))
	w.reg.PushImage(t, "shop/web:v1", amd64)
	w.reg.PushImage(t, "shop/side:v1", amd64)
	d := deployment("shop", "web", w.reg.Ref("shop/web:v1"), w.reg.Ref("shop/side:v1"))
	if err := w.client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	rec, g := &events{}, &gauges{}
	watcher := w.watcher(rec, g)

	cycle(t, watcher)
	want := []string{"Deployment/web c0 pass ImagePullable", "Deployment/web c1 pass ImagePullable"}
	if got := results(w.report(t, "shop")); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("admitted: report %q, want %q", got, want)
	}
	if len(rec.all()) != 0 || g.count(image.NotFound) != 0 {
		t.Fatalf("admitted: events %q, NotFound gauge %d; want none", rec.all(), g.count(image.NotFound))
	}

	w.deleteTag(t, "shop/web:v1")
	cycle(t, watcher)
	want[0] = "Deployment/web c0 fail NotFound"
	rep := w.report(t, "shop")
	if got := results(rep); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tag deleted: report %q, want %q", got, want)
	}
	if rep.Summary.Fail != 1 || rep.Summary.Pass != 1 {
		t.Errorf("tag deleted: summary %+v, want 1 fail and 1 pass", rep.Summary)
	}
	evs := rec.all()
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning ImageWouldNotPull Deployment/shop/web: [NotFound] container \"c0\"") {
		t.Fatalf("tag deleted: events %q, want one ImageWouldNotPull for c0", evs)
	}
	if !strings.Contains(evs[0], "fix: ") {
		t.Errorf("event %q says no fix", evs[0])
	}
	if g.count(image.NotFound) != 1 {
		t.Errorf("tag deleted: NotFound gauge %d, want 1", g.count(image.NotFound))
	}

	version := rep.ResourceVersion
	for range 3 {
		cycle(t, watcher)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("after 3 more cycles: %d events, want still 1: %q", n, rec.all())
	}
	if v := w.report(t, "shop").ResourceVersion; v != version {
		t.Errorf("the Report was rewritten by cycles that found nothing new (resourceVersion %s → %s)", version, v)
	}

	w.reg.PushImage(t, "shop/web:v1", amd64)
	cycle(t, watcher)
	want[0] = "Deployment/web c0 pass ImagePullable"
	if got := results(w.report(t, "shop")); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("restored: report %q, want %q", got, want)
	}
	if n := len(rec.all()); n != 1 || g.count(image.NotFound) != 0 {
		t.Errorf("restored: %d events (want 1), NotFound gauge %d (want 0)", n, g.count(image.NotFound))
	}

	if err := w.client.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	cycle(t, watcher)
	if rep := w.report(t, "shop"); rep != nil {
		t.Errorf("deleted workload: report still holds %q, want the Report gone", results(rep))
	}
}

// TestWatcherNewLeaderDoesNotRepeat: a new leader reads the Reports the
// previous one wrote, and announces nothing that was known.
func TestWatcherNewLeaderDoesNotRepeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, namespace("shop", nil), serviceAccount("shop"))
	if err := w.client.Create(ctx, deployment("shop", "web", w.reg.Ref("shop/missing:v1"))); err != nil {
		t.Fatal(err)
	}
	first := &events{}
	cycle(t, w.watcher(first, &gauges{}))
	if len(first.all()) != 1 {
		t.Fatalf("first leader: events %q, want 1", first.all())
	}
	second := &events{}
	next := w.watcher(second, &gauges{})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- next.Start(ctx) }()
	waitFor(t, func() bool { return w.report(t, "shop") != nil && len(w.report(t, "shop").Results) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(second.all()) != 0 {
		t.Errorf("second leader repeated %q", second.all())
	}
	if !next.NeedLeaderElection() {
		t.Error("the watcher runs on every replica: NeedLeaderElection is false")
	}
}

// TestWatcherExcludedNamespace: a namespace the webhooks ignore gets no
// Report.
func TestWatcherExcludedNamespace(t *testing.T) {
	t.Parallel()
	w := newWorld(t, namespace("quiet", map[string]string{"pullguard.io/ignore": "true"}), serviceAccount("quiet"),
		deployment("quiet", "web", "127.0.0.1:1/nothing:v1"))
	rec := &events{}
	cycle(t, w.watcher(rec, &gauges{}))
	if rep := w.report(t, "quiet"); rep != nil || len(rec.all()) != 0 {
		t.Errorf("excluded namespace: report %q, events %q; want none", results(rep), rec.all())
	}
}

// TestWatcherReportsOff: without the OpenReports CRD the watcher says so
// once and goes on with Events and metrics; once the CRD is installed, the
// next cycle writes the Reports, though nothing else changed.
func TestWatcherReportsOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t, namespace("shop", nil), serviceAccount("shop"), deployment("shop", "web", "127.0.0.1:1/gone:v1"))
	var installed atomic.Bool
	noMatch := &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "openreports.io", Kind: "Report"}}
	noCRD := fake.NewClientBuilder().WithScheme(scheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if !installed.Load() {
				return noMatch
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if !installed.Load() {
				return noMatch
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	var logged []string
	log := funcr.New(func(_, args string) { logged = append(logged, args) }, funcr.Options{})
	g := &gauges{}
	watcher := background.New(background.Options{
		Checker: w.checker(1000), Reader: w.client, Reports: noCRD, Recorder: g, Log: log,
	})
	for range 3 {
		cycle(t, watcher)
	}
	off := 0
	for _, l := range logged {
		if strings.Contains(l, "reports are off") {
			off++
		}
	}
	if off != 1 {
		t.Errorf("logged %d times that reports are off, want once: %q", off, logged)
	}
	if g.count(image.Unreachable)+g.count(image.AddressBlocked) != 1 {
		t.Errorf("gauges %+v, want the unreachable workload counted", g.findings)
	}
	installed.Store(true)
	cycle(t, watcher)
	var rep reportsv1alpha1.Report
	if err := noCRD.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: background.ReportName}, &rep); err != nil || len(rep.Results) != 1 {
		t.Errorf("CRD installed: the next cycle wrote no Report (%v, %d results)", err, len(rep.Results))
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
