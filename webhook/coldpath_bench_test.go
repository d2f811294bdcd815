package webhook

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
)

// BenchmarkColdPath is the harness for what a new image costs, through the
// validating webhook over HTTPS on loopback against a bearer-token
// registry (`make bench-cold`). Each scenario reports, per admission, the
// registry requests by kind, the latency percentiles and the process CPU:
//
//   - cold: every admission names an image of a new repository (a
//     one-platform index, nodes of one platform);
//   - cold-new-tag: a new tag of a repository asked before;
//   - pod-10-images-50ms: a pod of ten new images, every registry answer
//     50 ms late;
//   - burst-500-one-image-50ms: 500 admissions at once naming one new
//     image, 50 ms late;
//   - refresh: the images are known but their tags' TTL has passed.
func BenchmarkColdPath(b *testing.B) {
	ctrllog.SetLogger(logr.Discard()) // as serve does; else the delegating logger keeps every request's
	b.Run("cold", func(b *testing.B) {
		h := newColdBed(b, 0, linuxOnly)
		h.run(b, 1, func(i int) []string { return []string{h.push(b, fmt.Sprintf("cold/r%d:v1", i))} })
	})
	b.Run("cold-new-tag", func(b *testing.B) {
		h := newColdBed(b, 0, linuxOnly)
		h.warm(b, h.push(b, "tags/app:v0"))
		h.run(b, 1, func(i int) []string { return []string{h.push(b, fmt.Sprintf("tags/app:v%d", i+1))} })
	})
	b.Run("pod-10-images-50ms", func(b *testing.B) {
		h := newColdBed(b, 50*time.Millisecond, linuxOnly)
		h.run(b, 1, func(i int) []string {
			imgs := make([]string, 10)
			for j := range imgs {
				imgs[j] = h.push(b, fmt.Sprintf("pod/r%d-%d:v1", i, j))
			}
			return imgs
		})
	})
	b.Run("burst-500-one-image-50ms", func(b *testing.B) {
		h := newColdBed(b, 50*time.Millisecond, linuxOnly)
		h.run(b, 500, func(i int) []string { return []string{h.push(b, fmt.Sprintf("burst/r%d:v1", i))} })
	})
	b.Run("refresh", func(b *testing.B) {
		h := newColdBed(b, 0, linuxOnly, resolve.WithTagTTL(time.Nanosecond))
		img := h.push(b, "refresh/app:v1")
		h.warm(b, img)
		h.run(b, 1, func(int) []string { return []string{img} })
	})
}

var linuxOnly = []v1.Platform{amd64}

// coldBed is the webhook over HTTPS and its registry.
type coldBed struct {
	reg    *registrytest.Registry
	base   string
	poster func(tb testing.TB, images []string) func() error
}

func newColdBed(b *testing.B, latency time.Duration, platforms []v1.Platform, opts ...resolve.Option) *coldBed {
	reg := registrytest.New(b, registrytest.WithBearerAuth("", ""), registrytest.WithLatency(latency))
	guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{reg.Host}}
	lookup := resolve.New(append([]resolve.Option{resolve.WithTransport(guard.Transport()), resolve.WithInsecureRegistries(reg.Host)}, opts...)...)
	h := handlersFor(&fakeView{platforms: platforms}, lookup, nil)
	base, client := serveHTTPS(b, h)
	return &coldBed{reg: reg, base: base, poster: func(tb testing.TB, images []string) func() error {
		return allowedPoster(tb, base, client, podObject(images...))
	}}
}

func (h *coldBed) push(b *testing.B, repoTag string) string {
	h.reg.PushIndex(b, repoTag, amd64)
	return h.reg.Ref(repoTag)
}

func (h *coldBed) warm(b *testing.B, images ...string) {
	if err := h.poster(b, images)(); err != nil {
		b.Fatal(err)
	}
}

// run admits, per iteration, `at once` pods naming images(i) (pushed
// outside the timer), and reports the latency percentiles, CPU and
// registry requests per admission.
func (h *coldBed) run(b *testing.B, atOnce int, images func(i int) []string) {
	var (
		latencies []time.Duration
		cpu       time.Duration
		kinds     = map[registrytest.Kind]int{}
	)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		post := h.poster(b, images(i))
		before := h.reg.Kinds()
		cpuBefore := processCPU(b)
		b.StartTimer()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range atOnce {
			wg.Go(func() {
				start := time.Now()
				if err := post(); err != nil {
					b.Error(err)
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		b.StopTimer()
		cpu += processCPU(b) - cpuBefore
		for k, n := range h.reg.Kinds() {
			kinds[k] += n - before[k]
		}
		b.StartTimer()
	}
	n := float64(len(latencies))
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/admission")
	for _, k := range []registrytest.Kind{registrytest.Ping, registrytest.Token, registrytest.ManifestHead, registrytest.ManifestGet, registrytest.Blob} {
		b.ReportMetric(float64(kinds[k])/n, strings.ReplaceAll(string(k), " ", "-")+"/admission")
	}
}

// processCPU is the user and system CPU the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
