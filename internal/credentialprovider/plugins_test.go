package credentialprovider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
)

// pluginBin is the test plugin (testdata/plugin), built once per test
// binary by TestMain.
var pluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "credentialprovider-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "plugin")
	out, err := exec.Command("go", "build", "-o", pluginBin, "./testdata/plugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the test plugin: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// plugin is one provider of a test config.
type plugin struct {
	name         string
	matchImages  []string
	defaultCache string
	env          map[string]string
}

// setup writes a config of plugins and a bin dir holding the test plugin
// under each name, and loads them.
func setup(t *testing.T, plugins ...plugin) *Plugins {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n")
	for _, p := range plugins {
		if err := os.Symlink(pluginBin, filepath.Join(bin, p.name)); err != nil {
			t.Fatal(err)
		}
		if p.defaultCache == "" {
			p.defaultCache = "0s"
		}
		fmt.Fprintf(&cfg, "- name: %s\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: %s\n  matchImages:\n", p.name, p.defaultCache)
		for _, m := range p.matchImages {
			fmt.Fprintf(&cfg, "  - %q\n", m)
		}
		if len(p.env) > 0 {
			cfg.WriteString("  env:\n")
			for k, v := range p.env {
				fmt.Fprintf(&cfg, "  - name: %s\n    value: %q\n", k, v)
			}
		}
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// Short runs: a hanging test plugin is killed soon after its test.
	ps, err := Load(path, bin, WithMaxRun(3*time.Second))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, cfg.String())
	}
	return ps
}

// runs reads the images a plugin was run for.
func runs(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

func budget(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestCacheKeys follows the kubelet's cache: an answer is kept under the
// image, its registry or one global key as cacheKeyType says, for its
// cacheDuration or else the provider's default, and found under any of
// the three.
func TestCacheKeys(t *testing.T) {
	t.Parallel()
	images := []string{"r.io/team/a", "r.io/team/a", "r.io/team/b", "s.io/c"}
	tests := []struct {
		name         string
		cacheKey     string
		cacheFor     string
		defaultCache string
		wantRuns     []string
		wantFailed   int
	}{
		{name: "image", cacheKey: "Image", cacheFor: "1m", wantRuns: []string{"r.io/team/a", "r.io/team/b", "s.io/c"}},
		{name: "registry", cacheKey: "Registry", cacheFor: "1m", wantRuns: []string{"r.io/team/a", "s.io/c"}},
		{name: "global", cacheKey: "Global", cacheFor: "1m", wantRuns: []string{"r.io/team/a"}},
		{name: "cacheDuration 0 keeps nothing", cacheKey: "Global", cacheFor: "0s", defaultCache: "1h", wantRuns: images},
		{name: "no cacheDuration: the default", cacheKey: "Registry", defaultCache: "1m", wantRuns: []string{"r.io/team/a", "s.io/c"}},
		{name: "no cacheDuration, default 0", cacheKey: "Global", wantRuns: images},
		{name: "negative cacheDuration keeps nothing", cacheKey: "Global", cacheFor: "-1m", wantRuns: images},
		{name: "an unknown cacheKeyType fails", cacheKey: "Everything", cacheFor: "1m", wantRuns: images, wantFailed: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "runs")
			env := map[string]string{"PLUGIN_RUNS": file, "PLUGIN_CACHE_KEY": tt.cacheKey, "PLUGIN_USER": "u", "PLUGIN_PASSWORD": "p"}
			if tt.cacheFor != "" {
				env["PLUGIN_CACHE_FOR"] = tt.cacheFor
			}
			ps := setup(t, plugin{name: "cloud", matchImages: []string{"*.io"}, defaultCache: tt.defaultCache, env: env})
			failed := 0
			for _, img := range images {
				_, f := ps.Provide(budget(t, 10*time.Second), img)
				failed += len(f)
			}
			if diff := cmp.Diff(tt.wantRuns, runs(t, file)); diff != "" {
				t.Errorf("plugin runs (-want +got):\n%s", diff)
			}
			if failed != tt.wantFailed {
				t.Errorf("%d failures, want %d", failed, tt.wantFailed)
			}
		})
	}
}

func TestCacheExpires(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runs")
	ps := setup(t, plugin{name: "cloud", matchImages: []string{"r.io"}, env: map[string]string{
		"PLUGIN_RUNS": file, "PLUGIN_CACHE_FOR": "300ms", "PLUGIN_USER": "u", "PLUGIN_PASSWORD": "p",
	}})
	ps.Provide(budget(t, 10*time.Second), "r.io/a")
	ps.Provide(budget(t, 10*time.Second), "r.io/a")
	time.Sleep(400 * time.Millisecond)
	ps.Provide(budget(t, 10*time.Second), "r.io/a")
	if got := len(runs(t, file)); got != 2 {
		t.Errorf("%d runs, want 2: one, a kept answer, then one after it expired", got)
	}
}

// TestConcurrentRequestsShareOneRun: the kubelet's singleflight per image.
func TestConcurrentRequestsShareOneRun(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runs")
	ps := setup(t, plugin{name: "cloud", matchImages: []string{"r.io"}, env: map[string]string{
		"PLUGIN_RUNS": file, "PLUGIN_CACHE_FOR": "0s", "PLUGIN_DELAY": "500ms", "PLUGIN_USER": "u", "PLUGIN_PASSWORD": "p",
	}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if cfgs, f := ps.Provide(budget(t, 10*time.Second), "r.io/a"); len(cfgs) != 1 || len(f) != 0 {
				t.Errorf("Provide = %v, %v; want one answer", cfgs, f)
			}
		})
	}
	wg.Wait()
	if got := len(runs(t, file)); got != 1 {
		t.Errorf("%d runs for 8 concurrent requests, want 1", got)
	}
}

// TestMatchImages: a provider runs only for images one of its matchImages
// matches, by the keyring's rules; providers answer in config order.
func TestMatchImages(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "runs")
	env := map[string]string{"PLUGIN_RUNS": file, "PLUGIN_USER": "u", "PLUGIN_PASSWORD": "p"}
	ps := setup(t,
		plugin{name: "ecr", matchImages: []string{"*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn"}, env: env},
		plugin{name: "gar", matchImages: []string{"*-docker.pkg.dev", "gcr.io/team"}, env: env},
	)
	tests := []struct {
		image string
		want  []string // the sources of the answers
	}{
		{image: "123.dkr.ecr.eu-west-1.amazonaws.com/app", want: []string{"credential provider ecr"}},
		{image: "123.dkr.ecr.cn-north-1.amazonaws.com.cn/app", want: []string{"credential provider ecr"}},
		{image: "europe-docker.pkg.dev/p/r/app", want: []string{"credential provider gar"}},
		{image: "gcr.io/team/app", want: []string{"credential provider gar"}},
		{image: "gcr.io/other/app"},
		{image: "dkr.ecr.eu-west-1.amazonaws.com/app"},         // one label short
		{image: "123.dkr.ecr.eu-west-1.amazonaws.com:443/app"}, // a port the pattern lacks
		{image: "docker.io/library/nginx"},
	}
	for _, tt := range tests {
		cfgs, failed := ps.Provide(budget(t, 10*time.Second), tt.image)
		if len(failed) > 0 {
			t.Errorf("%s: failures %v", tt.image, failed)
		}
		var got []string
		for _, c := range cfgs {
			cands, _ := keychain.New(c).Candidates(t.Context(), tt.image)
			for _, cand := range cands {
				got = append(got, cand.Source)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.image, diff)
		}
	}
}

// TestFailures: a plugin that fails, hangs, answers garbage or needs a
// service account token gives nothing and is named, within the caller's
// share of its budget, without a word of its output.
func TestFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       string
		token      bool
		wantReason string
	}{
		{mode: "fail", wantReason: "exit status 1"},
		{mode: "hang", wantReason: "no answer within"},
		{mode: "garbage", wantReason: "the answer on stdout is not a valid CredentialProviderResponse"},
		{token: true, wantReason: "needs the pod's service account token"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+fmt.Sprint(tt.token), func(t *testing.T) {
			t.Parallel()
			ps := setup(t, plugin{name: "cloud", matchImages: []string{"r.io"}, env: map[string]string{"PLUGIN_MODE": tt.mode}})
			if tt.token {
				ps.providers[0].needsToken = true
			}
			start := time.Now()
			cfgs, failed := ps.Provide(budget(t, 2*time.Second), "r.io/a")
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("took %s; the plugins may use half of a 2s budget", took)
			}
			if len(cfgs) != 0 || len(failed) != 1 {
				t.Fatalf("Provide = %v, %v; want one failure", cfgs, failed)
			}
			if failed[0].Source != "credential provider cloud" || !strings.Contains(failed[0].Reason, tt.wantReason) {
				t.Errorf("failure %+v, want the source and %q", failed[0], tt.wantReason)
			}
			if strings.Contains(fmt.Sprint(failed), "hunter2") {
				t.Errorf("failure %v quotes the plugin's output", failed)
			}
		})
	}
}

// TestResolveWithPlugin: a private image resolves with the plugin's
// credentials, tried after the pod's; when the plugin fails, the answer is
// unknown rather than a refusal, and names it.
func TestResolveWithPlugin(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithBasicAuth("cloud-user", "cloud-token"))
	reg.PushImage(t, "team/app:v1", v1.Platform{OS: "linux", Architecture: "amd64"})
	wrong, err := keychain.Parse(fmt.Appendf(nil, `{"auths":{%q:{"username":"x","password":"y"}}}`, reg.Host), "secret ns/stale", keychain.ConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		secrets   []*keychain.Config
		wantClass image.Class // "" resolves
		wantTried []string
	}{
		{name: "the plugin's credentials pull", env: map[string]string{"PLUGIN_USER": "cloud-user", "PLUGIN_PASSWORD": "cloud-token"}},
		{name: "after a pull secret that fails", secrets: []*keychain.Config{wrong},
			env: map[string]string{"PLUGIN_USER": "cloud-user", "PLUGIN_PASSWORD": "cloud-token"}},
		{name: "wrong plugin credentials are refused", secrets: []*keychain.Config{wrong},
			env:       map[string]string{"PLUGIN_USER": "cloud-user", "PLUGIN_PASSWORD": "old"},
			wantClass: image.Unauthorized,
			wantTried: []string{"secret ns/stale (401 Unauthorized)", "credential provider cloud (401 Unauthorized)"}},
		{name: "a failing plugin leaves it unknown", secrets: []*keychain.Config{wrong},
			env:       map[string]string{"PLUGIN_MODE": "fail"},
			wantClass: image.Unreachable,
			wantTried: []string{"secret ns/stale (401 Unauthorized)", "credential provider cloud (failed: exit status 1)"}},
		{name: "a hanging plugin, alone, within the budget",
			env:       map[string]string{"PLUGIN_MODE": "hang"},
			wantClass: image.Unreachable,
			wantTried: []string{"credential provider cloud (failed: no answer within 1.5s, the share of the request's budget it may use)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := setup(t, plugin{name: "cloud", matchImages: []string{reg.Host}, env: tt.env})
			creds := keychain.Union(keychain.New(tt.secrets...), keychain.FromProvider(ps))
			ref, err := image.Parse(reg.Ref("team/app:v1"))
			if err != nil {
				t.Fatal(err)
			}
			r := resolve.New(resolve.WithInsecureRegistries(reg.Host))
			start := time.Now()
			// 3s: the hanging plugin is waited for half, 1.5s, rounded.
			_, err = r.Resolve(budget(t, 3*time.Second), resolve.Request{Ref: ref, Credentials: creds})
			if took := time.Since(start); took > 2500*time.Millisecond {
				t.Errorf("took %s of a 3s budget", took)
			}
			if tt.wantClass == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			var e *image.Error
			if !errors.As(err, &e) || e.Class != tt.wantClass {
				t.Fatalf("Resolve = %v, want %s", err, tt.wantClass)
			}
			var tried []string
			for _, a := range e.Tried {
				tried = append(tried, a.Source+" ("+a.Answer+")")
			}
			if diff := cmp.Diff(tt.wantTried, tried); diff != "" {
				t.Errorf("tried (-want +got):\n%s", diff)
			}
			if failedProvider := strings.Contains(strings.Join(tried, " "), "failed:"); failedProvider != errors.Is(e, image.ErrCredentialProviderFailed) {
				t.Errorf("errors.Is(ErrCredentialProviderFailed) = %t with attempts %v", !failedProvider, tried)
			}
			if s := fmt.Sprint(err, e.Reason, tried); strings.Contains(s, "hunter2") || strings.Contains(s, "cloud-token") {
				t.Errorf("the error shows plugin output or a credential: %s", s)
			}
		})
	}
}
