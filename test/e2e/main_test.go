//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// bed is everything TestMain starts once for all cases.
type bed struct {
	dir        string
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client
	kubeconfig string
	kubectl    string

	ca      *authority
	public  *registry
	private *registry
	images  *images

	serve       *process
	webhookPort int
	// down is an address nothing listens on; hang accepts connections and
	// never answers.
	down string
	hang *hanging
}

// the is the bed of this test binary, set once by TestMain before any test
// runs and only read after.
var the *bed

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	b, err := setUp(context.Background())
	defer b.tearDown()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setting up the bed: %v\n", err)
		b.dumpLogs()
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: bed ready in %s (API server %s, registries %s and %s, webhook on :%d)\n",
		time.Since(start).Round(time.Millisecond), b.cfg.Host, b.public.host, b.private.host, b.webhookPort)
	the = b
	suite := time.Now()
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e: cases ran in %s\n", time.Since(suite).Round(time.Millisecond))
	if code != 0 {
		b.dumpLogs()
	}
	return code
}

// need reads a test bed variable; the e2e tag asks for the bed, so a
// missing binary is an error, not a skip.
func need(v string) (string, error) {
	p := os.Getenv(v)
	if p == "" {
		return "", fmt.Errorf("%s is not set: run make e2e, or eval \"$(test/testbed/env.sh)\" after test/testbed/build.sh", v)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s: %w", v, err)
	}
	return p, nil
}

// pullguardBinary is $PULLGUARD_BIN or the repository's bin/pullguard (make build).
func pullguardBinary() (string, error) {
	if p := os.Getenv("PULLGUARD_BIN"); p != "" {
		return p, nil
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", "pullguard"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("pullguard binary: %w (run make build, or set PULLGUARD_BIN)", err)
	}
	return p, nil
}

// setUp starts the bed in order: the API server; the registries and their
// fixtures; every cluster object the cases read (so pullguard's caches hold
// them once it is ready); pullguard; then the webhook configurations.
// It returns what it started even on error, for tearDown.
func setUp(ctx context.Context) (*bed, error) {
	b := &bed{}
	assets, err := need("KUBEBUILDER_ASSETS")
	if err != nil {
		return b, err
	}
	registryBin, err := need("PULLGUARD_REGISTRY")
	if err != nil {
		return b, err
	}
	if b.kubectl, err = need("PULLGUARD_KUBECTL"); err != nil {
		return b, err
	}
	serveBin, err := pullguardBinary()
	if err != nil {
		return b, err
	}
	if b.dir, err = os.MkdirTemp("", "pullguard-e2e-"); err != nil {
		return b, err
	}
	if b.ca, err = newAuthority(b.dir); err != nil {
		return b, err
	}

	step := time.Now()
	if err := b.startAPIServer(assets); err != nil {
		return b, err
	}
	logStep("API server", step)

	step = time.Now()
	if b.public, err = startRegistry(ctx, registryBin, filepath.Join(b.dir, "public"), b.ca, "", ""); err != nil {
		return b, fmt.Errorf("public registry: %w", err)
	}
	if b.private, err = startRegistry(ctx, registryBin, filepath.Join(b.dir, "private"), b.ca, "billing-bot", randomPassword()); err != nil {
		return b, fmt.Errorf("private registry: %w", err)
	}
	if b.images, err = pushFixtures(ctx, b.ca, b.public, b.private); err != nil {
		return b, fmt.Errorf("fixtures: %w", err)
	}
	if b.down, err = closedAddress(); err != nil {
		return b, err
	}
	if b.hang, err = newHanging(); err != nil {
		return b, err
	}
	logStep("registries and fixtures", step)

	step = time.Now()
	if err := b.createClusterObjects(ctx); err != nil {
		return b, fmt.Errorf("cluster objects: %w", err)
	}
	logStep("nodes, namespaces, secrets, policies", step)

	step = time.Now()
	if err := b.startServe(ctx, serveBin); err != nil {
		return b, err
	}
	logStep("pullguard serve ready", step)

	step = time.Now()
	if err := b.registerWebhooks(ctx); err != nil {
		return b, err
	}
	logStep("webhooks answering", step)
	return b, nil
}

func logStep(what string, since time.Time) {
	fmt.Fprintf(os.Stderr, "e2e: %-38s %s\n", what, time.Since(since).Round(time.Millisecond))
}

// tearDown stops what setUp started, last first; it runs even when setUp
// or the cases failed.
func (b *bed) tearDown() {
	b.serve.stop()
	b.hang.close()
	if b.private != nil {
		b.private.proc.stop()
	}
	if b.public != nil {
		b.public.proc.stop()
	}
	if b.env != nil {
		if err := b.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: stopping the API server: %v\n", err)
		}
	}
	if b.dir != "" && os.Getenv("PULLGUARD_E2E_KEEP") == "" {
		_ = os.RemoveAll(b.dir)
	}
}

// dumpLogs prints the end of every child's log, pullguard's first.
func (b *bed) dumpLogs() {
	for _, p := range []*process{b.serve, regProc(b.public), regProc(b.private)} {
		if p != nil {
			fmt.Fprintf(os.Stderr, "\n===== %s log (%s), last 20000 bytes =====\n%s\n", p.name, p.log, p.tail(20000))
		}
	}
}

func regProc(r *registry) *process {
	if r == nil {
		return nil
	}
	return r.proc
}
