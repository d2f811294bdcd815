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
	"slices"
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

// TestBackground admits three Deployments, then breaks each as a registry
// or an operator would — deletes one's tag (distribution's delete API),
// re-pushes another's tag without the nodes' platform, deletes the third's
// pull secret — and follows what a user sees: each Report result turns to
// fail with its class, one ImageWouldNotPull Event per workload, the
// gauges move; more cycles add no Event; put right, all pass again; the
// workloads deleted, the Report goes.
func TestBackground(t *testing.T) {
	t.Parallel() // its own bed; it mostly waits for the resolver's tag TTL
	ctx := context.Background()
	b := startBackgroundBed(t)
	k := b.Kubectl
	web, edge, billing := backgroundImages(b.Public, b.Private)

	secret, err := b.Private.PullSecret(nsBackground, "regcred")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.API.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	var manifests strings.Builder
	for _, d := range []struct {
		name, image, secrets string
	}{{"web", web.Ref(), ""}, {"edge", edge.Ref(), ""}, {"billing", billing.Ref(), "imagePullSecrets: [{name: regcred}]"}} {
		fmt.Fprintf(&manifests, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      %[4]s
      containers: [{name: %[1]s, image: %[3]q}]
`, d.name, nsBackground, d.image, d.secrets)
	}
	if r := runKubectl(t, k, manifests.String(), "apply", "-f", "-"); r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}

	// results are the Report's "result/rule" of each Deployment.
	results := func() string {
		r := runKubectl(t, k, "", "get", "reports.openreports.io", "pullguard", "-n", nsBackground, "--ignore-not-found",
			"-o", `jsonpath={range .results[*]}{.resources[0].name}={.result}/{.rule} {end}`)
		if r.Code != 0 {
			t.Fatalf("get the Report: %s", r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	const allPass = "billing=pass/ImagePullable edge=pass/ImagePullable web=pass/ImagePullable"
	eventually(t, 30*time.Second, func() string {
		if got := results(); got != allPass {
			return fmt.Sprintf("admitted: the Report says %q, want %q", got, allPass)
		}
		return ""
	})
	classes := []string{"NotFound", "PlatformMismatch", "Unauthorized"}
	for _, c := range classes {
		if got := gauge(t, b, c); got != "0" {
			t.Errorf("admitted: %s gauge %q, want 0", c, got)
		}
	}

	dgst := b.Digests[web.Ref()]
	del, err := name.NewDigest(b.Public.Host+"/"+web.Repo+"@"+dgst.String(), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(del, remote.WithContext(ctx), remote.WithTransport(b.CA.Transport())); err != nil {
		t.Fatalf("delete %s from the registry: %v", del, err)
	}
	armOnly := edge
	armOnly.Platforms = []v1.Platform{bed.ARM64}
	if _, err := bed.Push(ctx, b.CA, []bed.Image{armOnly}); err != nil {
		t.Fatal(err)
	}
	if err := b.API.Client.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// The resolver keeps a tag's digest for a minute (resolve.DefaultTagTTL),
	// admission's answer included: the registry's changes show after that.
	const broken = "billing=fail/Unauthorized edge=fail/PlatformMismatch web=fail/NotFound"
	eventually(t, bgTagWait, func() string {
		if got := results(); got != broken {
			return fmt.Sprintf("broken: the Report says %q, want %q", got, broken)
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
		slices.Sort(out)
		return out
	}
	eventually(t, 10*time.Second, func() string {
		if got := events(); len(got) != 3 {
			return fmt.Sprintf("broken: ImageWouldNotPull events %q, want one per Deployment", got)
		}
		return ""
	})
	evs := events()
	for i, want := range []string{
		`Warning Deployment/billing: [Unauthorized] container "billing": image "` + billing.Ref() + `"`,
		`Warning Deployment/edge: [PlatformMismatch] container "edge": image "` + edge.Ref() + `"`,
		`Warning Deployment/web: [NotFound] container "web": image "` + web.Ref() + `" not found`,
	} {
		if !strings.HasPrefix(evs[i], want) || !strings.Contains(evs[i], "fix: ") {
			t.Errorf("event %q: want it to start %q and say a fix", evs[i], want)
		}
	}
	if !strings.Contains(evs[0], "secret "+nsBackground+"/regcred (not found)") {
		t.Errorf("the Unauthorized event %q does not name the deleted secret", evs[0])
	}
	for _, c := range classes {
		if got := gauge(t, b, c); got != "1" {
			t.Errorf("broken: %s gauge %q, want 1", c, got)
		}
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
	for _, c := range classes {
		t.Logf("pullguard_background_findings{class=%q} %s", c, gauge(t, b, c))
	}

	time.Sleep(3 * bgInterval) // cycles that find the same
	if got := events(); len(got) != 3 {
		t.Errorf("after more cycles: ImageWouldNotPull events %q, want still 3", got)
	}

	if _, err := bed.Push(ctx, b.CA, []bed.Image{web, edge}); err != nil {
		t.Fatal(err)
	}
	secret.ResourceVersion = ""
	if err := b.API.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, bgTagWait, func() string {
		if got := results(); got != allPass {
			return fmt.Sprintf("put right: the Report says %q, want %q", got, allPass)
		}
		for _, c := range classes {
			if got := gauge(t, b, c); got != "0" {
				return fmt.Sprintf("put right: %s gauge %q, want 0", c, got)
			}
		}
		return ""
	})
	if got := events(); len(got) != 3 {
		t.Errorf("put right: ImageWouldNotPull events %q, want still 3", got)
	}

	if r := runKubectl(t, k, "", "delete", "deployments", "--all", "-n", nsBackground); r.Code != 0 {
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

// backgroundImages are the background bed's images: web and edge
// (multi-platform) on the public registry, billing on the private one.
func backgroundImages(pub, priv *bed.Registry) (web, edge, billing bed.Image) {
	return bed.Image{Registry: pub, Repo: repoBackground, Tag: tagBackground, Platforms: []v1.Platform{bed.AMD64}},
		bed.Image{Registry: pub, Repo: "bg/edge", Tag: tagBackground, Platforms: []v1.Platform{bed.AMD64, bed.ARM64}},
		bed.Image{Registry: priv, Repo: "bg/billing", Tag: tagBackground, Platforms: []v1.Platform{bed.AMD64}}
}

// gauge is pullguard_background_findings{class} as the bed's pullguard
// serves it.
func gauge(t *testing.T, b *bed.Bed, class string) string {
	t.Helper()
	return metricValue(t, b.Serve.MetricsURL, fmt.Sprintf(`pullguard_background_findings{class=%q}`, class))
}

// metricValue is the value of the sample series (name and labels as
// Prometheus' text format writes them) on the /metrics at url, or
// "(absent)".
func metricValue(t *testing.T, url, series string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
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
		Images: func(pub, priv *bed.Registry) []bed.Image {
			web, edge, billing := backgroundImages(pub, priv)
			return []bed.Image{web, edge, billing}
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
