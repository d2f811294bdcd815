package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/webhook"
)

const (
	testNamespace = "pullguard-system"
	testSecret    = "pullguard-webhook-tls"
	testService   = "pullguard-webhook"
)

// start is a fixed instant, so expiry tests do not depend on today.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock shared by a test's bootstrappers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
func newClock(t time.Time) *fakeClock    { return &fakeClock{now: t} }
func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }
func configurations() []client.Object {
	o := webhook.ConfigOptions{URL: "https://127.0.0.1:9443"}
	return []client.Object{webhook.MutatingConfiguration(o), webhook.ValidatingConfiguration(o)}
}

func testOptions(t *testing.T, clock func() time.Time) Options {
	t.Helper()
	return Options{
		Namespace: testNamespace, SecretName: testSecret, ServiceName: testService,
		ExtraDNSNames: []string{"localhost"}, ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")},
		CertDir: t.TempDir(), WebhookConfigurations: []string{webhook.ConfigurationName},
		Clock: clock,
	}
}

// counts counts the client's writes by verb.
type counts struct {
	mu     sync.Mutex
	writes map[string]int
}

func (c *counts) add(verb string) { c.mu.Lock(); defer c.mu.Unlock(); c.writes[verb]++ }
func (c *counts) get(verb string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[verb]
}

// newClient is a fake client holding objs that counts Create, Update and
// Patch calls.
func newClient(objs ...client.Object) (client.WithWatch, *counts) {
	n := &counts{writes: map[string]int{}}
	c := fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			n.add("create")
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			n.add("update")
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			n.add("patch")
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	return c, n
}

// logBuffer collects log lines, V(1) included, to check what is said and
// that no key material is.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.lines = append(b.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

func logContext(t *testing.T) (context.Context, *logBuffer) {
	t.Helper()
	b := &logBuffer{}
	return logf.IntoContext(t.Context(), b.logger()), b
}

func getSecret(t *testing.T, c client.Client) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: testNamespace, Name: testSecret}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// caBundles are the caBundles of every webhook of both configurations.
// bundlesAre reports whether every webhook configuration's caBundle is want.
func bundlesAre(t *testing.T, c client.Client, want []byte) bool {
	t.Helper()
	for _, b := range caBundles(t, c) {
		if !bytes.Equal(b, want) {
			return false
		}
	}
	return true
}

func caBundles(t *testing.T, c client.Client) [][]byte {
	t.Helper()
	var out [][]byte
	for _, k := range configurationKinds {
		obj := k.newObj()
		if err := c.Get(t.Context(), client.ObjectKey{Name: webhook.ConfigurationName}, obj); err != nil {
			t.Fatal(err)
		}
		for _, cc := range clientConfigs(obj) {
			out = append(out, cc.CABundle)
		}
	}
	if len(out) != 2 {
		t.Fatalf("got %d webhooks, want 2", len(out))
	}
	return out
}

// readFiles reads CertDir's pair.
func readFiles(t *testing.T, dir string) (cert, key []byte) {
	t.Helper()
	cert, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err = os.ReadFile(filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// checkFilesMatchSecret fails unless dir holds the Secret's pair.
func checkFilesMatchSecret(t *testing.T, dir string, s *corev1.Secret) {
	t.Helper()
	cert, key := readFiles(t, dir)
	if !bytes.Equal(cert, s.Data["tls.crt"]) || !bytes.Equal(key, s.Data["tls.key"]) {
		t.Errorf("files in %s differ from the secret's", dir)
	}
}

// verifyAt checks that the Secret's serving certificate chains to its CA
// bundle for name at now, and returns the parsed leaf.
func verifyAt(t *testing.T, s *corev1.Secret, name string, now time.Time) *x509.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Fatal("ca.crt holds no certificate")
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now}); err != nil {
		t.Errorf("verify for %q at %s: %v", name, now, err)
	}
	return pair.Leaf
}

// readFilesQuiet is readFiles for polling: missing files are nil.
func readFilesQuiet(dir string) (cert, key []byte) {
	cert, _ = os.ReadFile(filepath.Join(dir, "tls.crt"))
	key, _ = os.ReadFile(filepath.Join(dir, "tls.key"))
	return cert, key
}

// bootstrapped is a fake cluster after a first Bootstrap at start: the
// client, its write counts, the options and the Secret written.
func bootstrapped(t *testing.T) (client.WithWatch, *counts, Options, *corev1.Secret) {
	t.Helper()
	c, n := newClient(configurations()...)
	o := testOptions(t, newClock(start).Now)
	if err := Bootstrap(t.Context(), c, o); err != nil {
		t.Fatal(err)
	}
	return c, n, o, getSecret(t, c)
}
