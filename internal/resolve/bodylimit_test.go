package resolve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pullguard/pullguard/internal/image"
)

// hugeManifests answers every manifest request with size bytes of JSON
// whitespace, announced (Content-Length) or streamed (chunked).
func hugeManifests(size int, announce bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
			if announce {
				w.Header().Set("Content-Length", strconv.Itoa(size))
			}
			if r.Method == http.MethodHead {
				return
			}
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
	}
}

func TestHugeManifestIsRefusedAsContainerdRefusesIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		announce bool
		byTag    bool
	}{
		{"streamed, by digest", false, false},
		{"announced, by digest", true, false},
		{"announced on HEAD, by tag", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, hugeManifests(120<<20, tt.announce))
			ref := reg.ref(t, "multi@"+reg.fx.index.String())
			if tt.byTag {
				ref = reg.ref(t, "multi:1.0")
			}
			_, err := New().Resolve(testContext(t), Request{Ref: ref})
			var e *image.Error
			if !errors.As(err, &e) || e.Class != image.NotFound || !strings.Contains(e.Reason, "containerd refuses manifests over 4393216 bytes") {
				t.Fatalf("Resolve = %v, want NotFound saying containerd refuses the manifest", err)
			}
		})
	}
}

// countingBody counts bytes read from bodies not yet closed: the most the
// callers above can be holding in memory.
type countingTransport struct {
	size int
	mu   sync.Mutex
	open int64
	peak int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, ContentLength: int64(c.size), Request: req,
		Body: &countingBody{r: io.LimitReader(zeros{}, int64(c.size)), c: c}}, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingBody struct {
	r    io.Reader
	c    *countingTransport
	read int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.c.mu.Lock()
	b.read += int64(n)
	b.c.open += int64(n)
	b.c.peak = max(b.c.peak, b.c.open)
	b.c.mu.Unlock()
	return n, err
}

func (b *countingBody) Close() error {
	b.c.mu.Lock()
	b.c.open -= b.read
	b.read = 0
	b.c.mu.Unlock()
	return nil
}

// However many lookups read the largest manifests at once, what they hold
// stays within the budget.
func TestBodyMemoryIsBounded(t *testing.T) {
	t.Parallel()
	inner := &countingTransport{size: MaxManifestBytes}
	const budget = 3 * MaxManifestBytes
	rt := bodyLimit{next: inner, budget: semaphore.NewWeighted(budget)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://r.example/v2/x/manifests/"+strconv.Itoa(i), nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				errs <- err
			}
			time.Sleep(10 * time.Millisecond) // holds it, as a caller parsing it would
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if inner.peak > budget {
		t.Errorf("bodies held %d bytes at once, over the budget of %d", inner.peak, budget)
	}
	if inner.peak < MaxManifestBytes {
		t.Errorf("peak %d: the test read nothing", inner.peak)
	}
}
