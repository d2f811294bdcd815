package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/metrics"
	"github.com/pullguard/pullguard/internal/policystatus"
	"github.com/pullguard/pullguard/webhook"
)

// leaderElectionID names the lease of the status reconciler's leader.
const leaderElectionID = "pullguard-policy-status.pullguard.io"

// eventReporter is the reportingController of the Events pullguard records
// (on ImagePolicies; cluster-scoped, so they are in namespace "default").
const eventReporter = "pullguard"

// cacheSyncProbeTimeout bounds how long /readyz waits on the caches.
const cacheSyncProbeTimeout = time.Second

var _ webhook.Recorder = (*metrics.Metrics)(nil)

// runServe wires the manager, the cluster view, the handlers, the status
// reconciler, metrics and probes, and runs them until SIGTERM or SIGINT.
func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log := newLogger(&o.zap, stderr)
	ctrl.SetLogger(log)
	klog.SetLogger(log) // client-go logs through klog
	setupLog := log.WithName("serve")

	guard, err := o.guard()
	if err != nil {
		return err
	}
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return usageError("kubeconfig: %w", err)
	}
	m, err := metrics.New(ctrlmetrics.Registry)
	if err != nil {
		return serveFailed(err)
	}
	if err := metrics.RegisterBuildInfo(ctrlmetrics.Registry, version, commit); err != nil {
		return serveFailed(err)
	}
	scheme := cluster.Scheme()
	if err := background.AddToScheme(scheme); err != nil {
		return serveFailed(err)
	}
	cacheOpts := cluster.CacheOptions()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         o.managerCache(cacheOpts),
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:        o.probeAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       o.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Port: o.port,
			// controller-runtime watches CertDir with its certwatcher, so a
			// renewed certificate is served without a restart.
			CertDir: o.certDir,
			TLSOpts: []func(*tls.Config){disableHTTP2},
		}),
	})
	if err != nil {
		return serveFailed(fmt.Errorf("create manager: %w", err))
	}
	if o.selfSigned {
		// A direct client: the manager's cache holds pull secrets only, and
		// the certificate must exist before the webhook server starts.
		certClient, err := client.NewWithWatch(cfg, client.Options{Scheme: cluster.Scheme()})
		if err != nil {
			return serveFailed(fmt.Errorf("certificate client: %w", err))
		}
		co := o.certOptions()
		if err := certs.Bootstrap(logf.IntoContext(ctx, log), certClient, co); err != nil {
			return serveFailed(fmt.Errorf("self-signed certificate: %w", err))
		}
		if err := mgr.Add(certs.NewRunnable(certClient, co)); err != nil {
			return serveFailed(err)
		}
	}
	if err := startInformers(ctx, mgr, cacheOpts); err != nil {
		return serveFailed(err)
	}
	viewOpts := cluster.Options{NodeDockerConfig: o.nodeDockerConfig}
	plugins, err := o.providers.load()
	if err != nil {
		return err
	}
	if plugins != nil {
		viewOpts.CredentialProviders = plugins
		setupLog.Info("credential provider plugins", "providers", plugins.Names())
	}
	view, err := cluster.New(mgr.GetCache(), viewOpts)
	if err != nil {
		return usageError("%w", err)
	}
	nodeHosts, err := loadNodeHosts(o.nodeRegistryConfig)
	if err != nil {
		return err
	}
	lookups, err := newNetworkResolvers(guard, nodeHosts, o.budget(), o.tagStaleness, m, log.WithName("resolve"))
	if err != nil {
		return serveFailed(err)
	}
	if err := m.ObserveCache(lookups.Stats); err != nil {
		return serveFailed(err)
	}
	webhook.NewHandlers(view, webhook.Options{
		ResolverFor: lookups.Lookup,
		Budget:      o.budget(),
		Recorder:    m,
		PullBudgets: lookups.PullBudget,
	}).Register(mgr.GetWebhookServer())
	if o.backgroundInterval > 0 {
		w, err := newWatcher(mgr, o, view, lookups, m, log.WithName("background"))
		if err != nil {
			return serveFailed(err)
		}
		if err := mgr.Add(w); err != nil {
			return serveFailed(err)
		}
	}
	if err := (&policystatus.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder(eventReporter)}).SetupWithManager(mgr); err != nil {
		return serveFailed(fmt.Errorf("set up policy status: %w", err))
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return serveFailed(err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return serveFailed(err)
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(mgr)); err != nil {
		return serveFailed(err)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	setupLog.Info("starting", "version", version, "port", o.port, "budget", o.budget().String(),
		"leaderElect", o.leaderElect, "backgroundInterval", o.backgroundInterval.String(), "allowLoopback", guard.AllowLoopback, "allowPrivate", guard.AllowPrivate,
		"insecureRegistries", guard.InsecureRegistries)
	if err := mgr.Start(ctx); err != nil {
		return serveFailed(err)
	}
	setupLog.Info("stopped")
	return nil
}

// managerCache is the cluster view's cache options plus, with background
// verification on, the watched workload types (their informers start with
// the watcher, on the leader only; startInformers starts the view's).
func (o *serveOptions) managerCache(view cache.Options) cache.Options {
	if o.backgroundInterval <= 0 {
		return view
	}
	out := view
	out.ByObject = maps.Clone(view.ByObject)
	maps.Copy(out.ByObject, background.CacheOptions())
	return out
}

// newWatcher is background verification through the webhook's cluster view
// and resolvers. Reports are read and written with a direct client: the
// watcher must not start an informer on a CRD that may be missing.
func newWatcher(mgr ctrl.Manager, o *serveOptions, view *cluster.View, lookups *networkResolvers, m *metrics.Metrics, log logr.Logger) (*background.Watcher, error) {
	reports, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("reports client: %w", err)
	}
	return background.New(background.Options{
		Checker: &background.Checker{
			Cluster: view, ResolverFor: lookups.Lookup, QPS: o.backgroundQPS, PullBudgets: lookups.PullBudget,
		},
		Reader:       mgr.GetClient(),
		Informers:    mgr.GetCache(),
		Reports:      reports,
		Events:       mgr.GetEventRecorder(eventReporter),
		Recorder:     m,
		Interval:     o.backgroundInterval,
		ExcludeLabel: webhook.OptOutLabel,
		Log:          log,
	}), nil
}

// guard is the address guard the flags describe; policies may widen it per
// network (see networkResolvers).
func (o *serveOptions) guard() (addressguard.Config, error) {
	rootCAs, err := registryRootCAs(o.registryCAFile)
	if err != nil {
		return addressguard.Config{}, err
	}
	proxy, err := registryProxy(o.registryProxy)
	if err != nil {
		return addressguard.Config{}, err
	}
	return addressguard.Config{
		AllowLoopback:      o.allowLoopback,
		AllowPrivate:       o.allowPrivate,
		InsecureRegistries: o.insecureRegistries,
		RootCAs:            rootCAs,
		Proxy:              proxy,
	}, nil
}

// restConfig loads path as controller-runtime's --kubeconfig would, or,
// without one, finds the config as controller-runtime does ($KUBECONFIG,
// in-cluster, ~/.kube/config). The flag is pullguard's own so the command
// never reads flag.CommandLine.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		return config.GetConfig()
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	// controller-runtime's defaults for its own loader.
	if cfg.QPS == 0 {
		cfg.QPS = 20
	}
	if cfg.Burst == 0 {
		cfg.Burst = 30
	}
	return cfg, nil
}

// startInformers registers the informers of every type the cache options
// name (those the cluster view reads) before the manager starts, so they all start (and sync) with the
// cache and /readyz waits for them, instead of the first admission
// starting one and waiting out its sync.
func startInformers(ctx context.Context, mgr ctrl.Manager, opts cache.Options) error {
	for obj := range opts.ByObject {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
	}
	return nil
}

// cachesSynced is ready once every informer has synced.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncProbeTimeout)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}

// disableHTTP2 serves the webhooks over HTTP/1.1 only: the API server needs
// nothing more, and it keeps HTTP/2 stream attacks (CVE-2023-44487, rapid
// reset) off the endpoint, as the kubebuilder scaffold does.
func disableHTTP2(c *tls.Config) {
	c.NextProtos = []string{"http/1.1"}
}

func serveFailed(err error) error {
	return &exitError{code: exitServeFailed, err: err}
}
