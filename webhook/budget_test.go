package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHangingRegistry: a registry that never answers costs a request its
// budget, not the API server's timeout; what is unknown by then is
// Unreachable, which the built-in policy warns about.
func TestHangingRegistry(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait on the handlers
	host := strings.TrimPrefix(srv.URL, "http://")
	image := host + "/acme/api:v1"

	const budget = 300 * time.Millisecond
	h := handlersFor(&fakeView{}, lookupFor(host), nil)
	h.budget = budget
	start := time.Now()
	resp := h.Validator().Handle(context.Background(), create(podKind, raw(t, podObject(image))))
	elapsed := time.Since(start)
	// Generous slack for a loaded machine; the point is far below the
	// resolver's own 10s flight bound and the webhook's timeout.
	if elapsed > budget+3*time.Second {
		t.Errorf("answered after %v, want about the budget %v", elapsed, budget)
	}
	want := answer{Allowed: true, Code: http.StatusOK, Warnings: []string{
		fmt.Sprintf("pullguard: container %q: image %q: registry unreachable from pullguard", "c0", image),
	}}
	if diff := cmp.Diff(want, answerOf(t, resp)); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

// TestRequestDeadlineWins: a request whose context ends before the
// budget is answered by its own deadline.
func TestRequestDeadlineWins(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	host := strings.TrimPrefix(srv.URL, "http://")
	h := handlersFor(&fakeView{}, lookupFor(host), nil) // budget 5s
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	resp := h.Validator().Handle(ctx, create(podKind, raw(t, podObject(host+"/acme/api:v1"))))
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("answered after %v, want about the request's 200ms deadline", elapsed)
	}
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "unreachable") {
		t.Errorf("response %+v, want allowed with an Unreachable warning", resp.AdmissionResponse)
	}
}
