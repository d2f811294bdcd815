package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/registrytest"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// fixtures starts a public and a private registry with the images the
// command tests name.
type fixtures struct {
	public, private *registrytest.Registry
	dockerConfig    string // path of a docker config with the private registry's credentials
	// wrongDockerConfig holds a wrong password for the private registry.
	wrongDockerConfig string
}

func newFixtures(t testing.TB) *fixtures {
	t.Helper()
	pub := registrytest.New(t)
	pub.PushIndex(t, "shop/api:v1.2.0", amd64, arm64)
	pub.PushIndex(t, "shop/api:v1.2.1", amd64, arm64)
	pub.PushIndex(t, "shop/api:latest", amd64, arm64)
	pub.PushIndex(t, "shop/api:latest-old", amd64)
	pub.PushImage(t, "shop/arm-only:v1", arm64)
	pub.PushIndex(t, "shop/win:ltsc2019", v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.6893"})
	priv := registrytest.New(t, registrytest.WithBasicAuth("ci", "s3cret-password"))
	priv.PushImage(t, "team/billing:v3", amd64)
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, priv.DockerConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:not-the-password"))
	if err := os.WriteFile(wrong, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, priv.Host, auth), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixtures{public: pub, private: priv, dockerConfig: cfg, wrongDockerConfig: wrong}
}

// insecureFlags lets check speak plain HTTP to the test registries.
func (fx *fixtures) insecureFlags() []string {
	return []string{"--insecure-registry", fx.public.Host, "--insecure-registry", fx.private.Host}
}

func deployment(name string, images ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: shop\nspec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n      containers:\n", name, name, name)
	for i, img := range images {
		fmt.Fprintf(&b, "      - name: c%d\n        image: %q\n", i, img)
	}
	return b.String()
}

// finding is the part of a JSON finding the tests compare.
type finding struct {
	Object, Container, Finding, Action string
}

type checkOutput struct {
	Findings []struct {
		Object, Container, Image, Finding, Action, Message, Fix string
	}
	Summary checkSummary
}

func runMain(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckFindings(t *testing.T) {
	t.Parallel()
	fx := newFixtures(t)
	pub, priv := fx.public, fx.private
	tests := []struct {
		name     string
		manifest string
		args     []string
		wantCode int
		want     []finding
		// wantText is a substring every finding's message or fix must hold, per finding.
		wantText []string
	}{{
		name:     "good multi-arch tag passes",
		manifest: deployment("api", pub.Ref("shop/api:v1.2.0")),
		wantCode: ExitOK,
	}, {
		name:     "implicit latest is denied",
		manifest: deployment("api", pub.Ref("shop/api")),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/api", "c0", "ImplicitLatest", "Deny"}},
	}, {
		name:     "explicit latest warns",
		manifest: deployment("api", pub.Ref("shop/api:latest")),
		wantCode: ExitOK,
		want:     []finding{{"Deployment/shop/api", "c0", "LatestTag", "Warn"}},
	}, {
		name:     "missing tag is denied with nearby tags",
		manifest: deployment("api", pub.Ref("shop/api:v1.2")),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/api", "c0", "NotFound", "Deny"}},
		wantText: []string{"v1.2.0"},
	}, {
		name:     "missing repository is denied",
		manifest: deployment("api", pub.Ref("shop/nope:v1")),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/api", "c0", "NotFound", "Deny"}},
	}, {
		name:     "invalid reference is denied",
		manifest: deployment("api", pub.Host+"/Shop/API:v1"),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/api", "c0", "InvalidReference", "Deny"}},
	}, {
		name:     "private image without credentials is denied",
		manifest: deployment("billing", priv.Ref("team/billing:v3")),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/billing", "c0", "Unauthorized", "Deny"}},
	}, {
		name:     "private image with a wrong password names the credentials tried",
		manifest: deployment("billing", priv.Ref("team/billing:v3")),
		args:     []string{"--docker-config", fx.wrongDockerConfig},
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/billing", "c0", "Unauthorized", "Deny"}},
		wantText: []string{"credentials tried: docker config " + fx.wrongDockerConfig},
	}, {
		name:     "implicit latest that does not exist offers the newest versions",
		manifest: deployment("edge", pub.Ref("shop/arm-only")),
		args:     []string{"--platform", "linux/arm64"},
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/edge", "c0", "ImplicitLatest", "Deny"}, {"Deployment/shop/edge", "c0", "NotFound", "Deny"}},
		wantText: []string{"no tag", `tags nearby: v1)`},
	}, {
		name:     "private image with docker config passes",
		manifest: deployment("billing", priv.Ref("team/billing:v3")),
		args:     []string{"--docker-config", fx.dockerConfig},
		wantCode: ExitOK,
	}, {
		name:     "arm64-only image on amd64 nodes is denied",
		manifest: deployment("edge", pub.Ref("shop/arm-only:v1")),
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/edge", "c0", "PlatformMismatch", "Deny"}},
		wantText: []string{"linux/arm64"},
	}, {
		name:     "arm64-only image on arm64 nodes passes",
		manifest: deployment("edge", pub.Ref("shop/arm-only:v1")),
		args:     []string{"--platform", "linux/arm64"},
		wantCode: ExitOK,
	}, {
		name: "a nodeSelector narrows the --platform nodes as the scheduler would",
		manifest: strings.Replace(deployment("edge", pub.Ref("shop/arm-only:v1")), "    spec:\n",
			"    spec:\n      nodeSelector: {kubernetes.io/arch: arm64}\n", 1),
		args:     []string{"--platform", "linux/amd64,linux/arm64"},
		wantCode: ExitOK,
	}, {
		name:     "a Windows build matches its host build",
		manifest: deployment("win", pub.Ref("shop/win:ltsc2019")),
		args:     []string{"--platform", "windows/amd64:10.0.17763"},
		wantCode: ExitOK,
	}, {
		name:     "a Windows build does not match a newer host",
		manifest: deployment("win", pub.Ref("shop/win:ltsc2019")),
		args:     []string{"--platform", "windows/amd64:10.0.20348"},
		wantCode: ExitDenied,
		want:     []finding{{"Deployment/shop/win", "c0", "PlatformMismatch", "Deny"}},
		wantText: []string{"node.kubernetes.io/windows-build"},
	}, {
		name: "imagePullPolicy Never with nodes of unknown images is not judged by the registry",
		manifest: strings.Replace(deployment("local", pub.Ref("shop/built-here:dev")), "        image:",
			"        imagePullPolicy: Never\n        image:", 1),
		wantCode: ExitOK,
	}, {
		name:     "unreachable registry warns by default",
		manifest: deployment("api", "127.0.0.1:1/shop/api:v1"),
		wantCode: ExitOK,
		want:     []finding{{"Deployment/shop/api", "c0", "Unreachable", "Warn"}},
	}, {
		name:     "objects without images and unknown kinds are skipped",
		manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: y}\n",
		wantCode: ExitOK,
	}, {
		name: "several documents and containers",
		manifest: deployment("a", pub.Ref("shop/api:v1.2.1"), pub.Ref("shop/api")) + "---\n" +
			deployment("b", pub.Ref("shop/api:v9")),
		wantCode: ExitDenied,
		want: []finding{
			{"Deployment/shop/a", "c1", "ImplicitLatest", "Deny"},
			{"Deployment/shop/b", "c0", "NotFound", "Deny"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, t.TempDir(), "app.yaml", tt.manifest)
			args := append([]string{"check", "-o", "json", "-f", file, "--timeout", "5s"}, fx.insecureFlags()...)
			args = append(args, tt.args...)
			code, stdout, stderr := runMain(t, "", args...)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			var out checkOutput
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			var got []finding
			for _, f := range out.Findings {
				got = append(got, finding{f.Object, f.Container, f.Finding, f.Action})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%s", diff, stdout)
			}
			for i, text := range tt.wantText {
				if i < len(out.Findings) && !strings.Contains(out.Findings[i].Message+out.Findings[i].Fix, text) {
					t.Errorf("finding %d does not mention %q: %+v", i, text, out.Findings[i])
				}
			}
			if strings.Contains(stdout+stderr, "s3cret-password") || strings.Contains(stdout+stderr, "not-the-password") {
				t.Errorf("the registry password appears in the output")
			}
		})
	}
}

func TestCheckInputErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", deployment("ok", "nginx:1.27")+"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: indent\n")
	unknownField := writeFile(t, dir, "policy.yaml", "apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  pinDigest: Digest\n")
	good := writeFile(t, dir, "good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"no input", []string{"check"}, []string{"-f"}},
		{"missing file", []string{"check", "-f", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}},
		{"bad yaml names file and line", []string{"check", "-f", bad}, []string{"bad.yaml:19:", "mapping values"}},
		{"bad output format", []string{"check", "-f", good, "-o", "xml"}, []string{"xml"}},
		{"bad platform", []string{"check", "-f", good, "--platform", "amd64"}, []string{"amd64"}},
		{"unknown policy field", []string{"check", "-f", good, "--policy", unknownField}, []string{"pinDigest"}},
		{"unknown flag", []string{"check", "-f", good, "--frobnicate"}, []string{"frobnicate"}},
		{"bad timeout", []string{"check", "-f", good, "--timeout", "-1s"}, []string{"timeout"}},
		{"insecure registry with a scheme", []string{"check", "-f", good, "--insecure-registry", "http://registry.local"}, []string{`--insecure-registry "http://registry.local": want host or host:port`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runMain(t, "", tt.args...)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not mention %q", stderr, s)
				}
			}
		})
	}
}

func TestCheckStdinAndText(t *testing.T) {
	t.Parallel()
	fx := newFixtures(t)
	manifest := deployment("api", fx.public.Ref("shop/api:v1.2"))
	code, stdout, stderr := runMain(t, manifest, append([]string{"check", "-f", "-"}, fx.insecureFlags()...)...)
	if code != ExitDenied {
		t.Fatalf("exit code = %d, want %d; stderr: %s", code, ExitDenied, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one finding line and a summary, got:\n%s", stdout)
	}
	// Line 13 is the container's image: field, where the fix goes.
	for _, want := range []string{"-:13:", "DENY", "NotFound", "Deployment/shop/api", `"c0"`, "v1.2.0", "Fix:"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("finding line %q does not contain %q", lines[0], want)
		}
	}
	if want := "checked 1 object with 1 image: 1 denied, 0 warnings, 0 audited"; lines[1] != want {
		t.Errorf("summary = %q, want %q", lines[1], want)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runMain(t, "", "version")
	want := fmt.Sprintf("pullguard %s (commit %s, %s %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if code != ExitOK || strings.TrimSpace(stdout) != want {
		t.Errorf("version: code %d, output %q, want %q", code, stdout, want)
	}
}

// BenchmarkCheck1000 runs `pullguard check` over 1,000 Deployments naming 10
// distinct images, as a CI job over a large repository would.
func BenchmarkCheck1000(b *testing.B) {
	fx := newFixtures(b)
	dir := b.TempDir()
	for i := range 10 {
		fx.public.PushIndex(b, fmt.Sprintf("bench/svc%d:v1", i), amd64, arm64)
	}
	for i := range 1000 {
		writeFile(b, dir, fmt.Sprintf("team%d/app%d.yaml", i%20, i), deployment(fmt.Sprintf("app%d", i), fx.public.Ref(fmt.Sprintf("bench/svc%d:v1", i%10))))
	}
	b.ResetTimer()
	for b.Loop() {
		if code, _, stderr := runMain(b, "", append([]string{"check", "-f", dir, "-o", "json"}, fx.insecureFlags()...)...); code != ExitOK {
			b.Fatalf("exit code %d: %s", code, stderr)
		}
	}
}

// A registry that speaks only plain HTTP is used only when named insecure;
// otherwise the finding says how to allow it.
func TestCheckPlainHTTPNeedsInsecure(t *testing.T) {
	t.Parallel()
	fx := newFixtures(t)
	file := writeFile(t, t.TempDir(), "app.yaml", deployment("api", fx.public.Ref("shop/api:v1.2.0")))
	code, stdout, stderr := runMain(t, "", "check", "-o", "json", "-f", file)
	if code != ExitOK {
		t.Fatalf("exit code = %d, want %d (Unreachable warns by default); stderr: %s", code, ExitOK, stderr)
	}
	var out checkOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Findings) != 1 || out.Findings[0].Finding != "Unreachable" || !strings.Contains(out.Findings[0].Message, "--insecure-registry") {
		t.Errorf("want one Unreachable finding naming --insecure-registry, got %+v", out.Findings)
	}
}

// A registry with a private CA is trusted through --registry-ca-file and
// refused without it (no silent fallback to unverified TLS).
func TestCheckRegistryCA(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithTLS())
	reg.PushIndex(t, "shop/api:v1", amd64, arm64)
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.crt", string(reg.CAPEM()))
	file := writeFile(t, dir, "app.yaml", deployment("api", reg.Ref("shop/api:v1")))
	tests := []struct {
		name        string
		args        []string
		wantFinding []finding
	}{
		{"trusted with the CA", []string{"--registry-ca-file", ca}, nil},
		{"unknown authority without it", nil, []finding{{"Deployment/shop/api", "c0", "Unreachable", "Warn"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runMain(t, "", append([]string{"check", "-o", "json", "-f", file}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d; stderr: %s", code, stderr)
			}
			var out checkOutput
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatal(err)
			}
			var got []finding
			for _, f := range out.Findings {
				got = append(got, finding{f.Object, f.Container, f.Finding, f.Action})
			}
			if diff := cmp.Diff(tt.wantFinding, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			// What the user reads: the certificate's fault and its fix, not
			// "speaks plain HTTP" (the loopback registry is also tried
			// over HTTP, which the guard refuses).
			for _, f := range out.Findings {
				for _, want := range []string{"certificate signed by an unknown authority", "--registry-ca-file", "nodes"} {
					if !strings.Contains(f.Message+" "+f.Fix, want) {
						t.Errorf("finding %q / fix %q lacks %q", f.Message, f.Fix, want)
					}
				}
				if strings.Contains(f.Message+f.Fix, "plain HTTP") {
					t.Errorf("finding %q / fix %q blames plain HTTP for a TLS certificate", f.Message, f.Fix)
				}
			}
		})
	}
	if code, _, stderr := runMain(t, "", "check", "-f", file, "--registry-ca-file", file); code != ExitUsage || !strings.Contains(stderr, "registry-ca-file") {
		t.Errorf("a CA file without certificates: exit %d, stderr %q", code, stderr)
	}
}

// The CI formats: annotations on the image field's line (GitHub), SARIF
// 2.1.0 results, one JUnit test case per image use; --fail-on warn fails a
// run with warnings or unverified images, which deny alone passes.
func TestCheckCIFormats(t *testing.T) {
	t.Parallel()
	fx := newFixtures(t)
	manifest := deployment("api", fx.public.Ref("shop/api:v1.2"), fx.public.Ref("shop/api:latest"), "127.0.0.1:1/down/img:v1")
	run := func(extra ...string) (int, string) {
		t.Helper()
		code, stdout, stderr := runMain(t, manifest, append(append([]string{"check", "-f", "-", "--timeout", "5s"}, fx.insecureFlags()...), extra...)...)
		if code == ExitUsage {
			t.Fatalf("usage error: %s", stderr)
		}
		return code, stdout
	}
	code, out := run("-o", "github")
	if code != ExitDenied {
		t.Errorf("github: exit %d, want %d", code, ExitDenied)
	}
	for _, want := range []string{
		"::error file=-,line=13,title=pullguard NotFound::container \"c0\"",
		"::warning file=-,line=15,title=pullguard LatestTag::",
		"::warning file=-,line=17,title=pullguard Unreachable::",
		"::notice title=pullguard::checked 1 object with 3 images: 1 denied",
		"1 image not verified",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("github output lacks %q:\n%s", want, out)
		}
	}
	_, out = run("-o", "sarif")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("sarif: %v:\n%s", err, out)
	}
	if rs := log.Runs[0].Results; len(rs) != 3 || rs[0].RuleID != "NotFound" || rs[0].Level != "error" || rs[0].Locations[0].PhysicalLocation.Region.StartLine != 13 {
		t.Errorf("sarif results %+v, want NotFound at line 13 first of 3", rs)
	}
	_, out = run("-o", "junit")
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit: %v:\n%s", err, out)
	}
	if s := suites.Suites[0]; s.Tests != 3 || s.Failures != 1 || s.Cases[0].Failure == nil || s.Cases[1].Failure != nil {
		t.Errorf("junit suite %+v, want 3 cases, the first failed", s)
	}
	// Only the warnings and the unverified image: deny passes, warn fails.
	manifest = deployment("api", fx.public.Ref("shop/api:latest"), "127.0.0.1:1/down/img:v1")
	if code, _ := run(); code != ExitOK {
		t.Errorf("--fail-on deny (default): exit %d, want %d", code, ExitOK)
	}
	if code, _ := run("--fail-on", "warn"); code != ExitDenied {
		t.Errorf("--fail-on warn: exit %d, want %d", code, ExitDenied)
	}
}
