//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/test/bed"
)

// The background test's bed: its own API server (with the OpenReports CRD)
// and a pullguard that verifies every two seconds, as the leader.
const (
	nsBackground   = "bg-shop"
	repoBackground = "bg/web"
	tagBackground  = "v1"
	bgInterval     = 2 * time.Second
	// bgTagWait covers the resolver's tag TTL (a minute; the first cycle
	// past it is served the old digest while it refreshes it) and a few
	// cycles.
	bgTagWait = 90 * time.Second
)

// TestBackground admits a Deployment, deletes its tag from the registry
// (distribution's delete API), and follows what a user sees: the Report's
// result turns to fail, one ImageWouldNotPull Event, the gauge moves; more
// cycles add no Event; the tag pushed again turns it back to pass.
func TestBackground(t *testing.T) {
	ctx := context.Background()
	b := startBackgroundBed(t)
	img := bed.Image{Registry: b.Public, Repo: repoBackground, Tag: tagBackground, Platforms: []v1.Platform{bed.AMD64}}
	k := b.Kubectl

	deploy := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: %q}]
`, nsBackground, img.Ref())
	if r := runKubectl(t, k, deploy, "apply", "-f", "-"); r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}

	result := func() string {
		r := runKubectl(t, k, "", "get", "reports.openreports.io", "pullguard", "-n", nsBackground, "--ignore-not-found",
			"-o", `jsonpath={.results[?(@.resources[0].name=="web")].result}/{.results[?(@.resources[0].name=="web")].rule}`)
		if r.Code != 0 {
			t.Fatalf("get the Report: %s", r)
		}
		return r.Stdout
	}
	eventually(t, 30*time.Second, func() string {
		if got := result(); got != "pass/ImagePullable" {
			return fmt.Sprintf("admitted: the Report's result is %q, want pass/ImagePullable", got)
		}
		return ""
	})
	if got := gauge(t, b, "NotFound"); got != "0" {
		t.Errorf("admitted: NotFound gauge %q, want 0", got)
	}

	dgst := b.Digests[img.Ref()]
	del, err := name.NewDigest(b.Public.Host+"/"+repoBackground+"@"+dgst.String(), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(del, remote.WithContext(ctx), remote.WithTransport(b.CA.Transport())); err != nil {
		t.Fatalf("delete %s from the registry: %v", del, err)
	}
	// The resolver keeps a tag's digest for a minute (resolve.DefaultTagTTL),
	// admission's answer included: the deletion shows after that.
	eventually(t, bgTagWait, func() string {
		if got := result(); got != "fail/NotFound" {
			return fmt.Sprintf("tag deleted: the Report's result is %q, want fail/NotFound", got)
		}
		return ""
	})
	events := func() []string {
		r := runKubectl(t, k, "", "get", "events.events.k8s.io", "-n", nsBackground, "-o", "json")
		if r.Code != 0 {
			t.Fatalf("get events: %s", r)
		}
		var list struct {
			Items []struct {
				Reason    string `json:"reason"`
				Type      string `json:"type"`
				Note      string `json:"note"`
				Regarding struct{ Kind, Name string }
				Series    *struct {
					Count int `json:"count"`
				} `json:"series"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list.Items {
			if e.Reason != "ImageWouldNotPull" {
				continue
			}
			s := fmt.Sprintf("%s %s/%s: %s", e.Type, e.Regarding.Kind, e.Regarding.Name, e.Note)
			if e.Series != nil {
				s += fmt.Sprintf(" (series of %d)", e.Series.Count)
			}
			out = append(out, s)
		}
		return out
	}
	eventually(t, 10*time.Second, func() string {
		if got := events(); len(got) != 1 {
			return fmt.Sprintf("tag deleted: ImageWouldNotPull events %q, want 1", got)
		}
		return ""
	})
	ev := events()[0]
	if !strings.HasPrefix(ev, `Warning Deployment/web: [NotFound] container "web": image "`+img.Ref()+`" not found`) || !strings.Contains(ev, "fix: ") {
		t.Errorf("event %q: want a Warning on the Deployment naming the container, the image and a fix", ev)
	}
	if got := gauge(t, b, "NotFound"); got != "1" {
		t.Errorf("tag deleted: NotFound gauge %q, want 1", got)
	}
	// What a user lists (the README shows it).
	for _, args := range [][]string{
		{"get", "reports", "-A"},
		{"get", "events", "-A", "--field-selector", "reason=ImageWouldNotPull"},
		{"get", "report", "pullguard", "-n", nsBackground, "-o", "yaml"},
		{"get", "reports", "-A", "-o", `jsonpath={range .items[*].results[?(@.result=="fail")]}{.resources[0].namespace}/{.resources[0].kind}/{.resources[0].name} {.message}{"\n"}{end}`},
	} {
		t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), runKubectl(t, k, "", args...).Output())
	}
	t.Logf("pullguard_background_findings{class=\"NotFound\"} %s", gauge(t, b, "NotFound"))

	time.Sleep(3 * bgInterval) // cycles that find the same
	if got := events(); len(got) != 1 {
		t.Errorf("after more cycles: ImageWouldNotPull events %q, want still 1", got)
	}

	if _, err := bed.Push(ctx, b.CA, []bed.Image{img}); err != nil {
		t.Fatal(err)
	}
	eventually(t, bgTagWait, func() string {
		if got := result(); got != "pass/ImagePullable" {
			return fmt.Sprintf("restored: the Report's result is %q, want pass/ImagePullable", got)
		}
		if got := gauge(t, b, "NotFound"); got != "0" {
			return fmt.Sprintf("restored: NotFound gauge %q, want 0", got)
		}
		return ""
	})
	if got := events(); len(got) != 1 {
		t.Errorf("restored: ImageWouldNotPull events %q, want still 1", got)
	}

	if r := runKubectl(t, k, "", "delete", "deployment", "web", "-n", nsBackground); r.Code != 0 {
		t.Fatal(r)
	}
	eventually(t, 30*time.Second, func() string {
		r := runKubectl(t, k, "", "get", "reports.openreports.io", "pullguard", "-n", nsBackground, "--ignore-not-found", "-o", "name")
		if strings.TrimSpace(r.Stdout) != "" {
			return "deleted: the namespace's Report is still there: " + r.Stdout
		}
		return ""
	})
}

// gauge is pullguard_background_findings{class} as the bed's pullguard
// serves it.
func gauge(t *testing.T, b *bed.Bed, class string) string {
	t.Helper()
	resp, err := http.Get(b.Serve.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf(`pullguard_background_findings{class=%q} `, class)
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return "(absent)"
}

// startBackgroundBed starts a bed of its own: the suite's pullguard has
// no Report CRD and a ten-minute interval.
func startBackgroundBed(t *testing.T) *bed.Bed {
	t.Helper()
	crds := t.TempDir()
	for _, src := range []string{
		filepath.Join("..", "..", "policies", "crd", "pullguard.io_imagepolicies.yaml"),
		filepath.Join("..", "..", "charts", "pullguard", "files", "openreports.io_reports.yaml"),
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crds, filepath.Base(src)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "pullguard-background-")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bed.Start(context.Background(), bed.Options{
		Dir:         dir,
		Binaries:    the.Binaries,
		CRDDir:      crds,
		PrivateUser: "bg-bot",
		Images: func(pub, _ *bed.Registry) []bed.Image {
			return []bed.Image{{Registry: pub, Repo: repoBackground, Tag: tagBackground, Platforms: []v1.Platform{bed.AMD64}}}
		},
		NodeArchs: []string{"amd64"},
		Prepare: func(ctx context.Context, b *bed.Bed) error {
			return bed.CreateNamespace(ctx, b.API.Client, nsBackground, nil)
		},
		// As the chart runs it: leader election, so the watcher runs once
		// the lease is won.
		ServeArgs: []string{"--background-interval", bgInterval.String(), "--leader-elect", "--leader-election-namespace", "default",
			"--zap-log-level", "debug"},
		Probe: func(b *bed.Bed) *corev1.Pod { return pod("probe", nsBackground, b.Public.Host+"/"+repoBackground) },
	})
	t.Cleanup(func() {
		if t.Failed() {
			b.DumpLogs(os.Stderr, 20000)
		}
		if err := b.Stop(); err != nil {
			t.Errorf("stop the background bed: %v", err)
		}
		if os.Getenv("PULLGUARD_E2E_KEEP") == "" {
			_ = os.RemoveAll(dir)
		}
	})
	if err != nil {
		t.Fatalf("start the background bed: %v", err)
	}
	return b
}
