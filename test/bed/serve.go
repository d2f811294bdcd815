package bed

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/webhook"
)

// Waits of the webhook's start.
const (
	serveReadyTimeout   = 60 * time.Second
	webhookReadyTimeout = 30 * time.Second
)

// ServeOptions say how to run `pullguard serve`.
type ServeOptions struct {
	// Bin is the pullguard binary; Dir receives its log and certificates.
	Bin, Dir   string
	Kubeconfig string
	// CA signs the serving certificate unless SelfSignedNamespace is set,
	// and is trusted for registries in any case.
	CA *Authority
	// SelfSignedNamespace, when set, runs serve with --self-signed: it
	// keeps its own CA and certificate in a Secret of this namespace and
	// patches the CA into the webhook configurations.
	SelfSignedNamespace string
	// Args are more flags.
	Args []string
	// Env are more environment variables ("KEY=value").
	Env []string
}

// Serve is a running `pullguard serve`.
type Serve struct {
	Proc *Process
	// URL is the webhook server's base URL.
	URL string
	// MetricsURL is its Prometheus endpoint.
	MetricsURL string
	// CABundle is the CA of its serving certificate, nil with
	// --self-signed (serve patches its own in).
	CABundle []byte
}

// StartServe runs `pullguard serve` on free loopback ports and waits for
// /readyz (caches synced, webhook server started).
func StartServe(ctx context.Context, o ServeOptions) (*Serve, error) {
	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(o.Dir, "serving-certs")
	s := &Serve{URL: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])}
	probes := fmt.Sprintf("127.0.0.1:%d", ports[2])
	args := []string{"serve",
		"--kubeconfig", o.Kubeconfig,
		"--cert-dir", certDir,
		"--port", strconv.Itoa(ports[0]),
		"--registry-ca-file", o.CA.PEMPath,
		"--allow-loopback-registries",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--health-probe-bind-address", probes,
	}
	if o.SelfSignedNamespace != "" {
		args = append(args, "--self-signed", "--self-signed-namespace", o.SelfSignedNamespace, "--self-signed-host", "127.0.0.1")
	} else {
		if err := o.CA.Serving(certDir, "tls.crt", "tls.key"); err != nil {
			return nil, err
		}
		s.CABundle = o.CA.PEM
	}
	s.Proc, err = StartProcess("pullguard serve", filepath.Join(o.Dir, "pullguard.log"), o.Env, o.Bin, append(args, o.Args...)...)
	if err != nil {
		return nil, err
	}
	if err := WaitHTTP(ctx, s.Proc, &http.Client{Timeout: 2 * time.Second}, "http://"+probes+"/readyz", serveReadyTimeout, http.StatusOK); err != nil {
		return s, fmt.Errorf("pullguard serve /readyz: %w", err)
	}
	return s, nil
}

// RegisterWebhooks installs the configurations the chart installs (from the
// same functions), pointed at s, and waits until the validating webhook
// denies probe in a server-side dry run: with failurePolicy Ignore, a
// webhook not yet reachable or trusted would silently admit.
func RegisterWebhooks(ctx context.Context, c client.Client, s *Serve, exclude []string, probe *corev1.Pod) error {
	opts := webhook.ConfigOptions{URL: s.URL, CABundle: s.CABundle, TimeoutSeconds: webhook.DefaultTimeoutSeconds, ExcludeNamespaces: exclude}
	if err := c.Create(ctx, webhook.MutatingConfiguration(opts)); err != nil {
		return fmt.Errorf("mutating configuration: %w", err)
	}
	if err := c.Create(ctx, webhook.ValidatingConfiguration(opts)); err != nil {
		return fmt.Errorf("validating configuration: %w", err)
	}
	deadline := time.Now().Add(webhookReadyTimeout)
	for {
		err := c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook never denied the probe pod (last answer: %v)", err)
		}
		if s.Proc.Exited() {
			return fmt.Errorf("pullguard serve exited: %s", s.Proc.Tail(2000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
