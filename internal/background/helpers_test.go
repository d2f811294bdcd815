package background_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

func scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := cluster.Scheme()
	if err := background.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// world is a cluster (controller-runtime's in-memory client) with one
// amd64 node, and a registry.
type world struct {
	reg    *registrytest.Registry
	client client.WithWatch
	view   *cluster.View
	// resolver's tag answers expire at once and are never served stale,
	// so each cycle asks the registry again, as a cycle ten minutes after
	// the last does (the server's one-minute tag TTL, and 15 s for a
	// NotFound, would answer back-to-back cycles).
	resolver *resolve.Resolver
}

func newWorld(t testing.TB, objs ...client.Object) *world {
	t.Helper()
	node := cluster.SyntheticNode(amd64)
	all := append([]client.Object{&node}, objs...)
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(all...).Build()
	view, err := cluster.New(c, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t)
	return &world{
		reg: reg, client: c, view: view,
		resolver: resolve.New(resolve.WithInsecureRegistries("127.0.0.1"), resolve.WithTagTTL(time.Nanosecond), resolve.WithTagStaleness(0), resolve.WithNotFoundTTL(0)),
	}
}

func (w *world) checker(qps float64) *background.Checker {
	return &background.Checker{
		Cluster: w.view, QPS: qps,
		ResolverFor: func(v1alpha1.Network) resolve.Lookup { return w.resolver },
	}
}

// watcher is a Watcher writing Reports into the world and Events into rec.
func (w *world) watcher(rec *events, gauges *gauges) *background.Watcher {
	return background.New(background.Options{
		Checker: w.checker(1000), Reader: w.client, Reports: w.client, Events: rec, Recorder: gauges,
		ExcludeLabel: "pullguard.io/ignore", Log: logr.Discard(),
	})
}

func (w *world) deleteTag(t testing.TB, repoAndTag string) {
	t.Helper()
	ref, err := name.ParseReference(w.reg.Ref(repoAndTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	// The in-process registry deletes a tag by its name, as distribution
	// deletes a manifest by digest.
	if err := remote.Delete(ref); err != nil {
		t.Fatal(err)
	}
}

func (w *world) report(t testing.TB, ns string) *reportsv1alpha1.Report {
	t.Helper()
	var rep reportsv1alpha1.Report
	err := w.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: background.ReportName}, &rep)
	if err != nil {
		return nil
	}
	return &rep
}

func deployment(ns, name string, images ...string) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)}}
	for i, img := range images {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers,
			corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img, ImagePullPolicy: corev1.PullIfNotPresent})
	}
	return d
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func serviceAccount(ns string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
}

// events records Events as "reason object: note".
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ref, _ := regarding.(*corev1.ObjectReference)
	name := ""
	if ref != nil {
		name = ref.Kind + "/" + ref.Namespace + "/" + ref.Name
	}
	e.got = append(e.got, eventtype+" "+reason+" "+name+": "+fmt.Sprintf(note, args...))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// gauges keeps what the watcher last reported.
type gauges struct {
	mu       sync.Mutex
	findings map[image.Class]int
	cycles   int
}

func (g *gauges) BackgroundFindings(w map[image.Class]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.findings = w
}

func (g *gauges) BackgroundCycle(time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cycles++
}

func (g *gauges) count(c image.Class) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.findings[c]
}
