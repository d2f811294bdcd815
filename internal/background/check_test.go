package background_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/registrytest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestCheckAsksEachImageOnce: 60 Deployments in three namespaces name 6
// images; each cycle asks the registry once per image: a GET of each cold
// tag in the first cycle, then a HEAD (the digest's manifest stays cached,
// and the resolver's tag answers have expired).
func TestCheckAsksEachImageOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var images []string
	for i := range 6 {
		repo := fmt.Sprintf("team/app%d:v1", i)
		w.reg.PushImage(t, repo, amd64)
		images = append(images, w.reg.Ref(repo))
	}
	var ws []background.Workload
	for i := range 60 {
		ns := fmt.Sprintf("ns%d", i%3)
		if i < 3 {
			if err := w.client.Create(context.Background(), serviceAccount(ns)); err != nil {
				t.Fatal(err)
			}
		}
		ws = append(ws, workloadOf(t, deployment(ns, fmt.Sprintf("d%d", i), images[i%6], images[(i+1)%6])))
	}
	c := w.checker(1000)
	for cycle := 1; cycle <= 3; cycle++ {
		before := w.reg.Kinds()
		results, stats := c.Check(context.Background(), ws)
		after := w.reg.Kinds()
		gets := int64(after[registrytest.ManifestGet] - before[registrytest.ManifestGet])
		heads := int64(after[registrytest.ManifestHead] - before[registrytest.ManifestHead])
		wantGets, wantHeads := int64(6), int64(0)
		if cycle > 1 {
			wantGets, wantHeads = 0, 6
		}
		if gets != wantGets || heads != wantHeads {
			t.Errorf("cycle %d: %d manifest GETs and %d HEADs, want %d and %d (one request per image)",
				cycle, gets, heads, wantGets, wantHeads)
		}
		if stats.Lookups != 6 || stats.Shared != 120-6 {
			t.Errorf("cycle %d: stats %+v, want 6 lookups and 114 shared", cycle, stats)
		}
		for _, r := range results {
			for _, cr := range r.Containers {
				if r.Err != nil || cr.Class != "" || cr.Digest == "" {
					t.Fatalf("cycle %d: %s container %s: %+v (err %v), want a pass with a digest", cycle, r.Workload.Ref.Name, cr.Container, cr, r.Err)
				}
			}
		}
	}
}

// TestCheckRatePerHost: lookups of one registry host keep to QPS, and a
// second host is not held up by the first.
func TestCheckRatePerHost(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other := registrytest.New(t)
	const qps, n = 40.0, 21
	var busy []background.Workload
	for i := range n {
		ref := fmt.Sprintf("r/img%d:v1", i)
		w.reg.PushImage(t, ref, amd64)
		busy = append(busy, workloadOf(t, deployment("default", fmt.Sprintf("busy%d", i), w.reg.Ref(ref))))
	}
	other.PushImage(t, "r/one:v1", amd64)
	quiet := []background.Workload{workloadOf(t, deployment("default", "quiet", other.Ref("r/one:v1")))}
	c := w.checker(qps)

	var wg sync.WaitGroup
	var busyTook, quietTook time.Duration
	start := time.Now()
	wg.Go(func() {
		rs, _ := c.Check(context.Background(), busy)
		busyTook = time.Since(start)
		expectPass(t, rs)
	})
	time.Sleep(50 * time.Millisecond) // the busy host's lookups are under way
	wg.Go(func() {
		rs, _ := c.Check(context.Background(), quiet)
		quietTook = time.Since(start)
		expectPass(t, rs)
	})
	wg.Wait()
	// n lookups at qps with a burst of one: the last starts (n-1)/qps after the first.
	if want := time.Duration(float64(n-1) / qps * float64(time.Second)); busyTook < want-20*time.Millisecond {
		t.Errorf("%d lookups of one host took %s, want at least %s at %g per second", n, busyTook, want, qps)
	}
	if quietTook > busyTook/2 {
		t.Errorf("the other host's lookup finished after %s, held up by the busy host (%s)", quietTook, busyTook)
	}
}

func expectPass(t *testing.T, rs []background.Result) {
	t.Helper()
	for _, r := range rs {
		for _, c := range r.Containers {
			if r.Err != nil || c.Class != "" {
				t.Errorf("%s: %+v (err %v), want a pass", r.Workload.Ref.Name, c, r.Err)
			}
		}
	}
}

func workloadOf(t testing.TB, obj client.Object) background.Workload {
	t.Helper()
	ws := background.FromObjects(obj)
	if len(ws) != 1 {
		t.Fatalf("%T %s is not one workload: %d", obj, obj.GetName(), len(ws))
	}
	return ws[0]
}
