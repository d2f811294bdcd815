//go:build soak

package webhook

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/resolve"
)

// TestSoak holds a steady rate of validating admissions over HTTPS on
// loopback (3-container Pods, warm cache) and reports errors, latency
// percentiles and the process's RSS over time; then the same with a
// registry that stops answering halfway, where every answer must still
// come before the API server's deadline. `make soak` runs it
// (PULLGUARD_SOAK_RATE per second, default 1000, for
// PULLGUARD_SOAK_DURATION, default 60s, each).
func TestSoak(t *testing.T) {
	// serve sets a logger at start; without one, controller-runtime's
	// delegating logger keeps every per-request child until one is set,
	// which would read as a leak here.
	ctrllog.SetLogger(logr.Discard())
	rate := envInt(t, "PULLGUARD_SOAK_RATE", 1000)
	duration := envDuration(t, "PULLGUARD_SOAK_DURATION", time.Minute)
	for _, hang := range []bool{false, true} {
		t.Run(fmt.Sprintf("registry-hangs-halfway=%v", hang), func(t *testing.T) {
			f := newFixture(t)
			guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{f.reg.Host}}
			// Short tag TTL, so a registry that hangs is felt within the run.
			lookup := resolve.New(resolve.WithTransport(guard.Transport()), resolve.WithInsecureRegistries(f.reg.Host), resolve.WithTagTTL(2*time.Second))
			h := handlersFor(&fakeView{platforms: nodes}, lookup, nil)
			base, client := serveHTTPS(t, h)
			client.Timeout = time.Duration(DefaultTimeoutSeconds) * time.Second // the API server's wait
			post := allowedPoster(t, base, client, podObject(f.good, f.amdOnly, f.latest))
			if err := post(); err != nil {
				t.Fatal(err)
			}
			var (
				mu         sync.Mutex
				latencies  []time.Duration
				errs       atomic.Int64
				firstErr   atomic.Value
				wg         sync.WaitGroup
				rss        []int64
				heap       []int64
				goroutines []int
			)
			start := time.Now()
			stop := start.Add(duration)
			sampler := time.NewTicker(time.Second)
			defer sampler.Stop()
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			hung := false
			for now := range tick.C {
				if now.After(stop) {
					break
				}
				if hang && !hung && now.Sub(start) > duration/2 {
					f.reg.Hang()
					hung = true
				}
				select {
				case <-sampler.C:
					rss = append(rss, rssBytes(t))
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					heap = append(heap, int64(ms.HeapInuse))
					goroutines = append(goroutines, runtime.NumGoroutine())
				default:
				}
				wg.Go(func() {
					t0 := time.Now()
					err := post()
					d := time.Since(t0)
					if err != nil {
						if errs.Add(1) == 1 {
							firstErr.Store(err.Error())
						}
						return
					}
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			slices.Sort(latencies)
			pct := func(p float64) time.Duration {
				if len(latencies) == 0 {
					return 0
				}
				return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
			}
			total := int64(len(latencies)) + errs.Load()
			t.Logf("%d admissions in %s (%.0f/s), %d errors; latency p50 %s, p99 %s, max %s",
				total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), errs.Load(), pct(0.5), pct(0.99), pct(1))
			t.Logf("RSS MiB each second: %s", mib(rss))
			t.Logf("heap in use MiB each second: %s", mib(heap))
			t.Logf("goroutines each second: %v", goroutines)
			if errs.Load() > 0 {
				t.Errorf("%d admissions failed; first: %v", errs.Load(), firstErr.Load())
			}
			if !hang && len(rss) > 12 {
				// Flat after warming up: no more than a quarter above the
				// level at 10 s.
				if last, at10 := rss[len(rss)-1], rss[10]; last > at10+at10/4 {
					t.Errorf("RSS grew from %d MiB at 10 s to %d MiB", at10>>20, last>>20)
				}
			}
		})
	}
}

func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(samples []int64) string {
	parts := make([]string, len(samples))
	for i, s := range samples {
		parts[i] = strconv.FormatInt(s>>20, 10)
	}
	return strings.Join(parts, " ")
}

func envInt(t *testing.T, key string, def int) int {
	if v := os.Getenv(key); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", key, v)
		}
		return n
	}
	return def
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration", key, v)
		}
		return d
	}
	return def
}
