package resolve

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/sync/semaphore"
)

// MaxManifestBytes is the largest manifest containerd accepts from a
// registry (core/remotes/docker's MaxManifestSize, 4*1048*1048 — the 1048
// is containerd's own): it refuses a larger one as not found, so the pull
// fails, and pullguard reads no more of it than that.
const MaxManifestBytes = 4 * 1048 * 1048

// Caps on the other answers pullguard reads in full. It reads no layers:
// the only blobs are image configs, a few KiB as built (containerd itself
// sets no cap on them, so going over is Unreachable, decided by the
// policy, never a denial of its own). Token, ping, error and tag-list
// answers are small.
const (
	maxBlobBytes  = 8 << 20
	maxOtherBytes = 1 << 20
)

// DefaultBodyMemory bounds the answer bytes all lookups of one Resolver
// hold at once: a hostile registry streaming the largest manifests to many
// lookups together cannot take the process past it (the chart's memory
// limit is 256 MiB).
const DefaultBodyMemory = 48 << 20

// tooLargeError is an answer over its cap.
type tooLargeError struct {
	what  string
	size  int64 // as announced, or -1 when only reading found out
	limit int64
}

func (e *tooLargeError) Error() string {
	if e.size >= 0 {
		return fmt.Sprintf("registry sent a %d-byte %s, over the %d bytes pullguard reads", e.size, e.what, e.limit)
	}
	return fmt.Sprintf("registry sent a %s of more than %d bytes", e.what, e.limit)
}

// manifest reports whether the refusal is containerd's own (a manifest
// over MaxManifestBytes fails the real pull).
func (e *tooLargeError) manifest() bool { return e.what == "manifest" }

// bodyLimit caps every answer's body by what it is, refuses one whose
// Content-Length (a manifest's HEAD included) is over its cap before
// reading it, and makes each body
// hold its size (or its cap, when unknown) from a shared budget until it is
// closed.
type bodyLimit struct {
	next   http.RoundTripper
	budget *semaphore.Weighted
}

func (t bodyLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	manifest := strings.Contains(req.URL.Path, "/manifests/")
	if req.Method == http.MethodHead {
		// containerd reads the size from HEAD too, and refuses there.
		if manifest && resp.StatusCode == http.StatusOK && resp.ContentLength > MaxManifestBytes {
			_ = resp.Body.Close()
			return nil, &tooLargeError{what: "manifest", size: resp.ContentLength, limit: MaxManifestBytes}
		}
		return resp, nil
	}
	what, limit := "answer", int64(maxOtherBytes)
	switch {
	case manifest:
		what, limit = "manifest", MaxManifestBytes
	case strings.Contains(req.URL.Path, "/blobs/"):
		what, limit = "blob", maxBlobBytes
	}
	if resp.ContentLength > limit {
		_ = resp.Body.Close()
		return nil, &tooLargeError{what: what, size: resp.ContentLength, limit: limit}
	}
	weight := limit
	if resp.ContentLength >= 0 {
		weight = resp.ContentLength
	}
	if err := t.budget.Acquire(req.Context(), weight); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, err: &tooLargeError{what: what, size: -1, limit: limit},
		release: func() { t.budget.Release(weight) }}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pools below.
func (t bodyLimit) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// limitedBody fails a read past left bytes, and gives its budget back once
// on Close.
type limitedBody struct {
	rc      io.ReadCloser
	left    int64
	err     error
	release func()
	once    sync.Once
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more says whether the body really goes on.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, b.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close closes the body before giving its budget back, so the bytes it
// held are gone before another body may take their place.
func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}
