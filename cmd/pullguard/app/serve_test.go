package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/webhook"
)

// serveFlags are the flags serve promises (the chart and the docs use them).
var serveFlags = []string{
	"cert-dir", "port", "metrics-bind-address", "health-probe-bind-address", "webhook-timeout", "tag-staleness",
	"node-docker-config", "image-credential-provider-config", "image-credential-provider-bin-dir", "node-registry-config", "registry-proxy", "registry-ca-file", "allow-loopback-registries", "allow-private-registries",
	"insecure-registry", "leader-elect", "leader-election-namespace", "kubeconfig",
	"self-signed", "self-signed-namespace", "self-signed-secret", "self-signed-service", "self-signed-host",
	"webhook-configuration",
	"background-interval", "background-qps",
	"zap-devel", "zap-encoder", "zap-log-level", "zap-stacktrace-level", "zap-time-encoding",
}

func TestServeHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"serve", "--help"}, strings.NewReader(""), &stdout, &stderr); code != ExitOK {
		t.Fatalf("serve --help exited %d: %s", code, stderr.String())
	}
	for _, name := range serveFlags {
		if !strings.Contains(stdout.String(), "--"+name+" ") {
			t.Errorf("serve --help does not list --%s:\n%s", name, stdout.String())
		}
	}
}

// flagView is what a test compares of serveOptions (zap.Options holds
// funcs, which cmp cannot compare).
type flagView struct {
	CertDir, MetricsAddr, ProbeAddr, NodeDockerConfig, RegistryCAFile string
	Port                                                              int
	WebhookTimeout, Budget                                            time.Duration
	AllowLoopback, AllowPrivate, LeaderElect                          bool
	InsecureRegistries                                                []string
	LeaderElectionNamespace, Kubeconfig, WebhookConfiguration         string
	ZapDevelopment                                                    bool
	BackgroundInterval                                                time.Duration
	BackgroundQPS                                                     float64
}

func viewOf(o *serveOptions) flagView {
	return flagView{
		CertDir: o.certDir, MetricsAddr: o.metricsAddr, ProbeAddr: o.probeAddr,
		NodeDockerConfig: o.nodeDockerConfig, RegistryCAFile: o.registryCAFile, Port: o.port,
		WebhookTimeout: o.webhookTimeout, Budget: o.budget(), AllowLoopback: o.allowLoopback,
		AllowPrivate: o.allowPrivate, LeaderElect: o.leaderElect, InsecureRegistries: o.insecureRegistries,
		LeaderElectionNamespace: o.leaderElectionNamespace, Kubeconfig: o.kubeconfig, ZapDevelopment: o.zap.Development,
		WebhookConfiguration: o.webhookConfiguration,
		BackgroundInterval:   o.backgroundInterval, BackgroundQPS: o.backgroundQPS,
	}
}

// runWith runs serve with args and a run function that records the
// options instead of starting a server.
func runWith(t *testing.T, args ...string) (*serveOptions, error) {
	t.Helper()
	var got *serveOptions
	cmd := newServeCommand(func(_ context.Context, o *serveOptions, _ io.Writer) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	return got, err
}

func TestServeFlags(t *testing.T) {
	t.Parallel()
	defaults := flagView{
		CertDir: defaultCertDir, MetricsAddr: ":8080", ProbeAddr: ":8081", Port: 9443,
		WebhookTimeout: 10 * time.Second, Budget: 8 * time.Second, WebhookConfiguration: webhook.ConfigurationName,
		BackgroundInterval: 10 * time.Minute, BackgroundQPS: 5,
	}
	tests := []struct {
		name string
		args []string
		want func(v flagView) flagView
	}{
		{"defaults", nil, func(v flagView) flagView { return v }},
		{
			name: "every flag",
			args: []string{
				"--cert-dir", "/etc/pullguard/tls", "--port", "10250",
				"--metrics-bind-address", "127.0.0.1:9090", "--health-probe-bind-address", "0",
				"--webhook-timeout", "30s", "--node-docker-config", "/var/lib/kubelet/config.json",
				"--registry-ca-file", "/etc/pullguard/ca.crt", "--allow-loopback-registries",
				"--allow-private-registries", "--insecure-registry", "registry.local:5000",
				"--insecure-registry", "mirror.local", "--leader-elect", "--leader-election-namespace", "pullguard",
				"--kubeconfig", "/home/me/.kube/config", "--zap-devel",
				"--webhook-configuration", "pullguard.pullguard-system",
				"--background-interval", "1h", "--background-qps", "0.5",
			},
			want: func(flagView) flagView {
				return flagView{
					CertDir: "/etc/pullguard/tls", Port: 10250, MetricsAddr: "127.0.0.1:9090", ProbeAddr: "0",
					WebhookTimeout: 30 * time.Second, Budget: 28 * time.Second,
					NodeDockerConfig: "/var/lib/kubelet/config.json", RegistryCAFile: "/etc/pullguard/ca.crt",
					AllowLoopback: true, AllowPrivate: true, InsecureRegistries: []string{"registry.local:5000", "mirror.local"},
					LeaderElect: true, LeaderElectionNamespace: "pullguard", Kubeconfig: "/home/me/.kube/config",
					ZapDevelopment: true, WebhookConfiguration: "pullguard.pullguard-system",
					BackgroundInterval: time.Hour, BackgroundQPS: 0.5,
				}
			},
		},
		{"short timeout keeps half for the budget", []string{"--webhook-timeout", "1s"}, func(v flagView) flagView {
			v.WebhookTimeout, v.Budget = time.Second, 500*time.Millisecond
			return v
		}},
		{"a 3s timeout", []string{"--webhook-timeout=3s"}, func(v flagView) flagView {
			v.WebhookTimeout, v.Budget = 3*time.Second, 1500*time.Millisecond
			return v
		}},
		{"background verification off", []string{"--background-interval=0"}, func(v flagView) flagView {
			v.BackgroundInterval = 0
			return v
		}},
		{"metrics disabled", []string{"--metrics-bind-address=0"}, func(v flagView) flagView {
			v.MetricsAddr = "0"
			return v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := runWith(t, tt.args...)
			if err != nil {
				t.Fatalf("serve %v: %v", tt.args, err)
			}
			if got == nil {
				t.Fatal("the run function was not called")
			}
			if diff := cmp.Diff(tt.want(defaults), viewOf(got)); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeZapLevel(t *testing.T) {
	t.Parallel()
	got, err := runWith(t, "--zap-log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	if got.zap.Level == nil || !got.zap.Level.Enabled(-1) {
		t.Errorf("--zap-log-level debug: level %v does not enable debug", got.zap.Level)
	}
}

// TestServeFlagErrors runs the real command through Main: every case fails
// validation, so no server starts and no cluster is needed.
func TestServeFlagErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown flag", []string{"--bogus"}, "unknown flag: --bogus"},
		{"positional argument", []string{"now"}, `unknown command "now"`},
		{"not a number", []string{"--port", "https"}, "invalid argument"},
		{"port 0", []string{"--port", "0"}, "--port must be between 1 and 65535, not 0"},
		{"port too high", []string{"--port", "70000"}, "not 70000"},
		{"empty cert dir", []string{"--cert-dir", ""}, "--cert-dir must name"},
		{"metrics address without a port", []string{"--metrics-bind-address", "8080"}, `--metrics-bind-address must be host:port, ":port" or "0", not "8080"`},
		{"probe address without a port", []string{"--health-probe-bind-address", "localhost"}, "--health-probe-bind-address must be"},
		{"timeout zero", []string{"--webhook-timeout", "0s"}, "--webhook-timeout must be whole seconds from 1s to 30s"},
		{"negative staleness", []string{"--tag-staleness", "-1s"}, "--tag-staleness -1s: must not be negative"},
		{"provider config without bin dir", []string{"--image-credential-provider-config", "/etc/kubernetes/credential-providers.yaml"}, "--image-credential-provider-config and --image-credential-provider-bin-dir go together"},
		{"registry proxy without scheme", []string{"--registry-proxy", "proxy.corp:3128"}, `--registry-proxy "proxy.corp:3128": want http://HOST[:PORT]`},
		{"registry proxy socks", []string{"--registry-proxy", "socks5://proxy.corp:1080"}, "want http://HOST[:PORT] or https://HOST[:PORT]"},
		{"provider bin dir without config", []string{"--image-credential-provider-bin-dir", "/usr/libexec/kubernetes"}, "go together"},
		{"timeout past the API server's limit", []string{"--webhook-timeout", "31s"}, "not 31s"},
		{"timeout not whole seconds", []string{"--webhook-timeout", "1500ms"}, "not 1.5s"},
		{"insecure registry with a scheme", []string{"--insecure-registry", "http://registry.local"}, `--insecure-registry "http://registry.local": want host or host:port`},
		{"insecure registry with a path", []string{"--insecure-registry", "registry.local/team"}, "want host or host:port"},
		{"insecure registry empty", []string{"--insecure-registry", ""}, "want host or host:port"},
		{"insecure registry empty port", []string{"--insecure-registry", "registry.local:"}, "want host or host:port"},
		{"insecure registry port not a number", []string{"--insecure-registry", "registry.local:http"}, "want host or host:port"},
		{"insecure registry port out of range", []string{"--insecure-registry", "registry.local:70000"}, "want host or host:port"},
		{"insecure registry without host", []string{"--insecure-registry", ":5000"}, "want host or host:port"},
		{"bad zap level", []string{"--zap-log-level", "chatty"}, "zap-log-level"},
		{"background interval negative", []string{"--background-interval", "-1m"}, "--background-interval must be 0 (off) or at least 1s, not -1m0s"},
		{"background interval too short", []string{"--background-interval", "10ms"}, "not 10ms"},
		{"background qps zero", []string{"--background-qps", "0"}, "--background-qps must be above 0 and at most 1000, not 0"},
		{"background qps huge", []string{"--background-qps", "5000"}, "not 5000"},
		{"self-signed without a namespace", []string{"--self-signed"}, "--self-signed needs --self-signed-namespace"},
		{"configuration name with upper case", []string{"--webhook-configuration", "PullGuard"}, `--webhook-configuration "PullGuard" is not a valid object name`},
		{"empty configuration name", []string{"--webhook-configuration", ""}, `--webhook-configuration "" is not a valid object name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Never start a real server: the case must fail before run.
			if got, _ := runWith(t, tt.args...); got != nil {
				t.Fatalf("serve %v passed validation", tt.args)
			}
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"serve"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (usage); stderr: %s", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestServeInsecureRegistryHostsAccepted(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"registry.local", "registry.local:5000", "10.0.0.5:80", "[::1]:5000", "::1"} {
		if _, err := runWith(t, "--insecure-registry", h); err != nil {
			t.Errorf("--insecure-registry %q: %v", h, err)
		}
	}
}

func TestServeGuard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	reg := registrytest.New(t, registrytest.WithTLS())
	ca := filepath.Join(dir, "ca.crt")
	notPEM := filepath.Join(dir, "key.txt")
	for path, data := range map[string][]byte{ca: reg.CAPEM(), notPEM: []byte("not a certificate")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		file    string
		wantCAs bool
		wantErr error // nil: no error; matched with errors.Is
	}{
		{name: "no CA file", file: ""},
		{name: "a CA file", file: ca, wantCAs: true},
		{name: "missing file", file: filepath.Join(dir, "missing.crt"), wantErr: os.ErrNotExist},
		{name: "no certificate in the file", file: notPEM, wantErr: addressguard.ErrNoCertificates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &serveOptions{registryCAFile: tt.file, allowPrivate: true, insecureRegistries: []string{"r.local"}}
			g, err := o.guard()
			if tt.wantErr != nil {
				var ee *exitError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ee) || ee.code != ExitUsage {
					t.Fatalf("guard() = %v, want a usage error wrapping %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("guard(): %v", err)
			}
			if (g.RootCAs != nil) != tt.wantCAs || !g.AllowPrivate || g.AllowLoopback || len(g.InsecureRegistries) != 1 {
				t.Errorf("guard() = %+v, want RootCAs set %v and the flags' allowances", g, tt.wantCAs)
			}
		})
	}
}

func TestServeSelfSignedOptions(t *testing.T) {
	t.Parallel()
	o := &serveOptions{
		certDir: "/certs", selfSigned: true, selfSignedNamespace: "pullguard",
		selfSignedSecret: "tls", selfSignedService: "pg", selfSignedHosts: []string{"127.0.0.1", "pullguard.local", "::1"},
		webhookConfiguration: "pg.pullguard",
	}
	got := o.certOptions()
	want := certs.Options{
		Namespace: "pullguard", SecretName: "tls", ServiceName: "pg", CertDir: "/certs",
		WebhookConfigurations: []string{"pg.pullguard"},
		ExtraDNSNames:         []string{"pullguard.local"},
		ExtraIPs:              []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(certs.Options{}, "Clock")); diff != "" {
		t.Errorf("certOptions (-want +got):\n%s", diff)
	}
}
