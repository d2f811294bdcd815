package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/webhook"
)

// Defaults of `pullguard serve`.
const (
	defaultCertDir = "/tmp/k8s-webhook-server/serving-certs" // controller-runtime's, on Linux
	defaultPort    = 9443
	defaultMetrics = ":8080"
	defaultProbes  = ":8081"
	// The self-signed bootstrap's Secret and Service; the chart uses the same names.
	defaultSelfSignedSecret  = "pullguard-webhook-tls"
	defaultSelfSignedService = "pullguard-webhook"
	// defaultWebhookTimeout matches the configurations' timeoutSeconds.
	defaultWebhookTimeout = time.Duration(webhook.DefaultTimeoutSeconds) * time.Second
	// The API server accepts timeoutSeconds from 1 to 30.
	minWebhookTimeout = time.Second
	maxWebhookTimeout = 30 * time.Second
	// Background cycles closer than this would only re-ask registries
	// what the resolver's tag cache still holds.
	minBackgroundInterval = time.Second
	// maxBackgroundQPS keeps a typo from turning the watcher on a registry.
	maxBackgroundQPS = 1000.0
)

// exitServeFailed is serve's exit status when the server could not start or
// stopped on an error (bad flags exit with ExitUsage).
const exitServeFailed = 1

// serveOptions are the flags of `pullguard serve`.
type serveOptions struct {
	certDir                 string
	port                    int
	metricsAddr             string
	probeAddr               string
	webhookTimeout          time.Duration
	tagStaleness            time.Duration
	nodeDockerConfig        string
	providers               providerFlags
	nodeRegistryConfig      string
	registryProxy           string
	registryCAFile          string
	allowLoopback           bool
	allowPrivate            bool
	insecureRegistries      []string
	leaderElect             bool
	leaderElectionNamespace string
	kubeconfig              string
	selfSigned              bool
	selfSignedNamespace     string
	selfSignedSecret        string
	selfSignedService       string
	selfSignedHosts         []string
	webhookConfiguration    string
	backgroundInterval      time.Duration
	backgroundQPS           float64
	zap                     zap.Options
}

// serveFunc runs the server with validated options until ctx ends. The real
// one is runServe; tests give their own to check flags without a cluster.
type serveFunc func(ctx context.Context, o *serveOptions, stderr io.Writer) error

func newServeCommand(run serveFunc) *cobra.Command {
	o := &serveOptions{zap: zap.Options{}}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the admission webhooks and keep ImagePolicy status (runs in the cluster)",
		Long: `serve runs pullguard's mutating (` + webhook.MutatePath + `) and validating (` + webhook.ValidatePath + `)
admission webhooks over TLS with a controller-runtime manager, reading nodes, pull
secrets, service accounts and ImagePolicies from informer caches. Every replica
serves the webhooks; with --leader-elect only the leader writes ImagePolicy status
and runs background verification: every --background-interval (jittered) and on
each change of a workload, pull secret or service account, the images running
workloads name are judged again as admission would judge them now, and what would
fail to pull is reported as OpenReports Reports, Events and metrics.

Metrics are served on --metrics-bind-address (/metrics), probes on
--health-probe-bind-address (/healthz, and /readyz once the caches have synced
and the webhook server has started). SIGTERM shuts down gracefully.`,
		Example: `  pullguard serve --cert-dir /etc/pullguard/tls --leader-elect
  pullguard serve --kubeconfig ~/.kube/config --cert-dir ./certs --allow-private-registries \
    --registry-ca-file ./registry-ca.crt --insecure-registry registry.local:5000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return run(ctx, o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.certDir, "cert-dir", defaultCertDir, "directory with the serving certificate tls.crt and key tls.key, reloaded when they change")
	f.IntVar(&o.port, "port", defaultPort, "port the webhook server listens on")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", defaultMetrics, `address of the metrics endpoint, or "0" to disable it`)
	f.StringVar(&o.probeAddr, "health-probe-bind-address", defaultProbes, `address of /healthz and /readyz, or "0" to disable them`)
	f.DurationVar(&o.webhookTimeout, "webhook-timeout", defaultWebhookTimeout, "the webhooks' configured timeoutSeconds (whole seconds, 1s-30s); each request's budget is set below it")
	f.DurationVar(&o.tagStaleness, "tag-staleness", resolve.DefaultTagStaleness, "how long past its 1-minute TTL a tag's digest is still served while one background request refreshes it (0: admissions wait for the refresh)")
	f.StringVar(&o.nodeDockerConfig, "node-docker-config", "", "docker config the nodes pull with (the kubelet's config.json; .dockercfg in the legacy layout), tried after the pod's pull secrets")
	o.providers.add(f)
	addNodeRegistryConfigFlag(f, &o.nodeRegistryConfig)
	addRegistryProxyFlag(f, &o.registryProxy)
	f.StringVar(&o.registryCAFile, "registry-ca-file", "", "PEM CA certificates trusted for registries, on top of the system's")
	f.BoolVar(&o.allowLoopback, "allow-loopback-registries", false, "allow registries on loopback addresses (policies may allow it too)")
	f.BoolVar(&o.allowPrivate, "allow-private-registries", false, "allow registries on private addresses (policies may allow it too)")
	f.StringArrayVar(&o.insecureRegistries, "insecure-registry", nil, "registry host[:port] reachable over plain HTTP or unverified TLS; repeatable")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader to write ImagePolicy status; the webhooks serve on every replica")
	f.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's own; required out of cluster)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "path to a kubeconfig; only required out of cluster")
	f.BoolVar(&o.selfSigned, "self-signed", false, "issue and renew the serving certificate from a self-signed CA kept in a Secret, and patch the CA into the webhooks' caBundle (clusters without cert-manager)")
	f.StringVar(&o.selfSignedNamespace, "self-signed-namespace", "", "namespace of the certificate Secret and the Service (default: $POD_NAMESPACE)")
	f.StringVar(&o.selfSignedSecret, "self-signed-secret", defaultSelfSignedSecret, "Secret holding the self-signed CA and serving certificate")
	f.StringVar(&o.selfSignedService, "self-signed-service", defaultSelfSignedService, "Service in front of the webhook; its DNS names go into the certificate")
	f.StringArrayVar(&o.selfSignedHosts, "self-signed-host", nil, "extra DNS name or IP for the certificate (e.g. 127.0.0.1 for local runs); repeatable")
	f.StringVar(&o.webhookConfiguration, "webhook-configuration", webhook.ConfigurationName, "name of the Mutating and Validating webhook configurations that call this server; --self-signed keeps their caBundle")
	f.DurationVar(&o.backgroundInterval, "background-interval", background.DefaultInterval, "time between background verification cycles over every running workload (jittered by 10%); 0 turns background verification off")
	f.Float64Var(&o.backgroundQPS, "background-qps", background.DefaultQPS, "registry lookups per second per registry host that background verification may make")
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.zap.BindFlags(zapFlags)
	f.AddGoFlagSet(zapFlags)
	return cmd
}

// validate checks the flags that need no I/O; files are read by runServe.
func (o *serveOptions) validate() error {
	if strings.TrimSpace(o.certDir) == "" {
		return usageError("--cert-dir must name the directory of tls.crt and tls.key")
	}
	if o.port < 1 || o.port > 65535 {
		return usageError("--port must be between 1 and 65535, not %d", o.port)
	}
	if err := validateBindAddress("--metrics-bind-address", o.metricsAddr); err != nil {
		return err
	}
	if err := validateBindAddress("--health-probe-bind-address", o.probeAddr); err != nil {
		return err
	}
	if err := o.providers.validate(); err != nil {
		return err
	}
	if _, err := registryProxy(o.registryProxy); err != nil {
		return err
	}
	if o.tagStaleness < 0 {
		return fmt.Errorf("--tag-staleness %s: must not be negative", o.tagStaleness)
	}
	if o.webhookTimeout < minWebhookTimeout || o.webhookTimeout > maxWebhookTimeout || o.webhookTimeout%time.Second != 0 {
		return usageError("--webhook-timeout must be whole seconds from %s to %s (the API server's timeoutSeconds), not %s",
			minWebhookTimeout, maxWebhookTimeout, o.webhookTimeout)
	}
	if o.backgroundInterval < 0 || o.backgroundInterval > 0 && o.backgroundInterval < minBackgroundInterval {
		return usageError("--background-interval must be 0 (off) or at least %s, not %s", minBackgroundInterval, o.backgroundInterval)
	}
	if o.backgroundQPS <= 0 || o.backgroundQPS > maxBackgroundQPS {
		return usageError("--background-qps must be above 0 and at most %g, not %g", maxBackgroundQPS, o.backgroundQPS)
	}
	for _, h := range o.insecureRegistries {
		if err := validateRegistryHost(h); err != nil {
			return usageError("--insecure-registry %q: %w", h, err)
		}
	}
	if errs := validation.IsDNS1123Subdomain(o.webhookConfiguration); len(errs) > 0 {
		return usageError("--webhook-configuration %q is not a valid object name: %s", o.webhookConfiguration, strings.Join(errs, "; "))
	}
	if o.selfSigned && o.selfSignedNamespace == "" {
		o.selfSignedNamespace = os.Getenv("POD_NAMESPACE")
		if o.selfSignedNamespace == "" {
			return usageError("--self-signed needs --self-signed-namespace (or the POD_NAMESPACE environment variable)")
		}
	}
	return nil
}

// certOptions are the self-signed bootstrap's options the flags describe.
func (o *serveOptions) certOptions() certs.Options {
	co := certs.Options{
		Namespace: o.selfSignedNamespace, SecretName: o.selfSignedSecret, ServiceName: o.selfSignedService,
		CertDir: o.certDir, WebhookConfigurations: []string{o.webhookConfiguration},
	}
	for _, h := range o.selfSignedHosts {
		if ip := net.ParseIP(h); ip != nil {
			co.ExtraIPs = append(co.ExtraIPs, ip)
		} else {
			co.ExtraDNSNames = append(co.ExtraDNSNames, h)
		}
	}
	return co
}

// validateBindAddress accepts host:port (host may be empty) or "0", which
// controller-runtime reads as "disabled".
func validateBindAddress(flagName, addr string) error {
	if addr == "0" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageError(`%s must be host:port, ":port" or "0", not %q`, flagName, addr)
	}
	return nil
}

var errNotHost = errors.New(`want host or host:port, without scheme or path`)

// validateRegistryHost accepts "host", "host:port", "[v6]:port" and a bare
// IPv6 address, as addressguard and resolve match them.
func validateRegistryHost(h string) error {
	if h == "" || strings.ContainsAny(h, "/@?# \t") {
		return errNotHost
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q", errNotHost, port)
		}
		host = hh
	} else if strings.Count(h, ":") == 1 || strings.HasPrefix(h, "[") {
		return fmt.Errorf("%w: %w", errNotHost, err)
	}
	if strings.Trim(host, "[]") == "" {
		return errNotHost
	}
	return nil
}

// budget is the per-request time for resolving images: webhook.BudgetMargin
// below the webhook timeout, or half of it for short timeouts.
func (o *serveOptions) budget() time.Duration {
	return o.webhookTimeout - min(webhook.BudgetMargin, o.webhookTimeout/2)
}
