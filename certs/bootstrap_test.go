package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// racingClient holds the first two answers to Gets of a Secret until both
// are known, so
// two bootstrappers both find it missing and both try to create it.
type racingClient struct {
	client.Client
	ready *sync.WaitGroup
	gets  atomic.Int32
}

func newRacingClient(c client.Client, ready *sync.WaitGroup) *racingClient {
	return &racingClient{Client: c, ready: ready}
}

func (r *racingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.Client.Get(ctx, key, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok && r.gets.Add(1) <= 2 {
		r.ready.Done()
		r.ready.Wait()
	}
	return err
}

// serveTLS serves a TLS handshake on loopback with the pair in dir and
// returns its address.
func serveTLS(t *testing.T, dir string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	return l.Addr().String()
}

func TestBootstrapServesEveryName(t *testing.T) {
	t.Parallel()
	c, _ := newClient(configurations()...)
	o := testOptions(t, nil) // a real clock: crypto/tls checks against it
	ctx, logs := logContext(t)
	if err := Bootstrap(ctx, c, o); err != nil {
		t.Fatal(err)
	}
	s := getSecret(t, c)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("type %q, want %q", s.Type, corev1.SecretTypeTLS)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range s.Data {
			if !yield(k) {
				return
			}
		}
	})
	if diff := cmp.Diff([]string{"ca.crt", "ca.key", "tls.crt", "tls.key"}, keys); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	for i, b := range caBundles(t, c) {
		if !bytes.Equal(b, s.Data["ca.crt"]) {
			t.Errorf("webhook %d: caBundle is not the secret's ca.crt", i)
		}
	}
	checkFilesMatchSecret(t, o.CertDir, s)
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("a private key was logged")
	}

	addr := serveTLS(t, o.CertDir)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundles(t, c)[0]) {
		t.Fatal("caBundle holds no certificate")
	}
	names := []string{
		"pullguard-webhook", "pullguard-webhook.pullguard-system", "pullguard-webhook.pullguard-system.svc",
		"pullguard-webhook.pullguard-system.svc.cluster.local", "localhost", "127.0.0.1",
	}
	for _, name := range append(names, "other.example") {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
		if err == nil {
			_ = conn.Close()
		}
		if want := name != "other.example"; (err == nil) != want {
			t.Errorf("handshake as %q: err %v, want success %t", name, err, want)
		}
	}
}

func TestBootstrapCreateRace(t *testing.T) {
	t.Parallel()
	c, n := newClient(configurations()...)
	// Both replicas read "not found" before either creates: hold each
	// Get of the missing Secret until both have asked.
	clock := newClock(start)
	var wg, ready sync.WaitGroup
	ready.Add(2)
	racing := newRacingClient(c, &ready)
	dirs := []string{t.TempDir(), t.TempDir()}
	errs := make([]error, 2)
	for i := range dirs {
		wg.Go(func() {
			o := testOptions(t, clock.Now)
			o.CertDir = dirs[i]
			errs[i] = Bootstrap(t.Context(), racing, o)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := n.get("create"); got != 2 {
		t.Errorf("%d creates, want 2 (both tried, one won)", got)
	}
	if got := n.get("update"); got != 0 {
		t.Errorf("%d updates, want 0: the loser must take the winner's secret as it is", got)
	}
	s := getSecret(t, c)
	for _, dir := range dirs {
		checkFilesMatchSecret(t, dir, s)
	}
}

func TestBootstrapRenewal(t *testing.T) {
	t.Parallel()
	near := DefaultCertValidity - DefaultRenewBefore + time.Hour
	caNear := DefaultCAValidity - DefaultCertValidity - DefaultRenewBefore + time.Hour
	tests := []struct {
		name      string
		later     time.Duration // after the first bootstrap
		service   string        // a new Service name, or "" to keep it
		wantCert  bool          // a new serving certificate
		wantCA    bool          // a new CA, with the old one in the bundle
		wantPatch int
	}{
		{name: "a day later nothing changes", later: 24 * time.Hour},
		{name: "just before renew-before nothing changes", later: near - 2*time.Hour},
		{name: "within renew-before the certificate is renewed under the same CA", later: near, wantCert: true},
		{name: "a new Service name is a new certificate", later: time.Hour, service: "guard", wantCert: true},
		{name: "near the CA's end both rotate, old CA kept", later: caNear, wantCert: true, wantCA: true, wantPatch: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, n := newClient(configurations()...)
			clock := newClock(start)
			o := testOptions(t, clock.Now)
			if err := Bootstrap(t.Context(), c, o); err != nil {
				t.Fatal(err)
			}
			before := getSecret(t, c)
			patches := n.get("patch")

			clock.Add(tt.later)
			if tt.service != "" {
				o.ServiceName = tt.service
			}
			ctx, logs := logContext(t)
			if err := Bootstrap(ctx, c, o); err != nil {
				t.Fatal(err)
			}
			after := getSecret(t, c)
			if got := !bytes.Equal(before.Data["tls.crt"], after.Data["tls.crt"]); got != tt.wantCert {
				t.Errorf("new certificate: %t, want %t; log:\n%s", got, tt.wantCert, logs)
			}
			if got := !bytes.Equal(before.Data["ca.key"], after.Data["ca.key"]); got != tt.wantCA {
				t.Errorf("new CA: %t, want %t; log:\n%s", got, tt.wantCA, logs)
			}
			if got := n.get("patch") - patches; got != tt.wantPatch {
				t.Errorf("%d caBundle patches, want %d", got, tt.wantPatch)
			}
			checkFilesMatchSecret(t, o.CertDir, after)
			if !bundlesAre(t, c, after.Data["ca.crt"]) {
				t.Error("caBundle is not the secret's ca.crt")
			}
			leaf := verifyAt(t, after, o.dnsNames()[2], clock.Now())
			if got, want := leaf.NotAfter.Sub(clock.Now()) > DefaultRenewBefore, true; got != want {
				t.Errorf("certificate ends %s, within renew-before of %s", leaf.NotAfter, clock.Now())
			}
			bundle, err := parseCerts(after.Data["ca.crt"])
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{false: 1, true: 2}[tt.wantCA]; len(bundle) != want {
				t.Errorf("bundle of %d CAs, want %d", len(bundle), want)
			}
			if tt.wantCA {
				// Certificates the old CA signed still verify during the overlap.
				verifyAt(t, &corev1.Secret{Data: map[string][]byte{
					"tls.crt": before.Data["tls.crt"], "tls.key": before.Data["tls.key"], "ca.crt": after.Data["ca.crt"],
				}}, o.dnsNames()[2], start.Add(time.Hour))
				// Once the old CA has expired it leaves the bundle.
				clock.Set(bundle[1].NotAfter.Add(time.Hour))
				if err := Bootstrap(t.Context(), c, o); err != nil {
					t.Fatal(err)
				}
				if got, err := parseCerts(getSecret(t, c).Data["ca.crt"]); err != nil || len(got) != 1 {
					t.Errorf("after the old CA expired: %d CAs (err %v), want 1", len(got), err)
				}
			}
		})
	}
}

func TestBootstrapPatchesOnlyWhenDifferent(t *testing.T) {
	t.Parallel()
	c, n := newClient(configurations()...)
	o := testOptions(t, newClock(start).Now)
	o.WebhookConfigurations = append(o.WebhookConfigurations, "absent")
	if err := Bootstrap(t.Context(), c, o); err != nil {
		t.Fatal(err)
	}
	if got := n.get("patch"); got != 2 {
		t.Fatalf("first bootstrap: %d patches, want 2", got)
	}
	if err := Bootstrap(t.Context(), c, o); err != nil {
		t.Fatal(err)
	}
	if got := n.get("patch"); got != 2 {
		t.Errorf("second bootstrap: %d patches in all, want still 2", got)
	}

	// `helm upgrade` resets one configuration's caBundle.
	obj := configurations()[1]
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	clientConfigs(obj)[0].CABundle = nil
	if err := c.Update(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
	if err := Bootstrap(t.Context(), c, o); err != nil {
		t.Fatal(err)
	}
	if got := n.get("patch"); got != 3 {
		t.Errorf("after a reset: %d patches in all, want 3", got)
	}
	want := getSecret(t, c).Data["ca.crt"]
	if !bundlesAre(t, c, want) {
		t.Error("caBundle not restored")
	}
}

func TestBootstrapReplacesMalformedSecret(t *testing.T) {
	t.Parallel()
	otherKey, err := NewAuthority("other", start, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyPEM, err := encodeKey(otherKey.key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mangle  func(map[string][]byte)
		wantLog string
		wantCA  bool // the CA is replaced, not only the serving pair
	}{
		{"empty secret", func(d map[string][]byte) { clear(d) }, "no CA yet", true},
		{"ca.crt not PEM", func(d map[string][]byte) { d["ca.crt"] = []byte("garbage") }, "CA unusable", true},
		{"ca.crt with trailing garbage", func(d map[string][]byte) { d["ca.crt"] = append(d["ca.crt"], "junk"...) }, "trailing data", true},
		{"ca.key of another CA", func(d map[string][]byte) { d["ca.key"] = otherKeyPEM }, "does not belong", true},
		{"ca.key truncated", func(d map[string][]byte) { d["ca.key"] = d["ca.key"][:40] }, "CA unusable", true},
		{"tls.crt garbage", func(d map[string][]byte) {
			d["tls.crt"] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}, "serving certificate unusable", false},
		{"tls.key of another pair", func(d map[string][]byte) { d["tls.key"] = otherKeyPEM }, "serving certificate unusable", false},
		{"tls.crt missing", func(d map[string][]byte) { delete(d, "tls.crt") }, "no serving certificate", false},
		{"stray key", func(d map[string][]byte) { d["extra"] = []byte("x") }, "out of date", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _, o, s := bootstrapped(t)
			oldCA := s.Data["ca.crt"]
			tt.mangle(s.Data)
			if err := c.Update(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			ctx, logs := logContext(t)
			if err := Bootstrap(ctx, c, o); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") {
				t.Error("a private key was logged")
			}
			after := getSecret(t, c)
			if _, reasons, err := plan(after.Data, o, "x"); err != nil || len(reasons) > 0 {
				t.Errorf("secret still not valid: %v %v", reasons, err)
			}
			if got := !bytes.Equal(oldCA, after.Data["ca.crt"]); got != tt.wantCA {
				t.Errorf("CA replaced: %t, want %t", got, tt.wantCA)
			}
			checkFilesMatchSecret(t, o.CertDir, after)
		})
	}
}

func TestBootstrapRefusesForeignSecret(t *testing.T) {
	t.Parallel()
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testSecret},
		Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("x")},
	}
	c, n := newClient(foreign)
	err := Bootstrap(t.Context(), c, testOptions(t, nil))
	if !errors.Is(err, ErrForeignSecret) {
		t.Errorf("err %v, want ErrForeignSecret", err)
	}
	if got := n.get("update"); got != 0 {
		t.Errorf("%d updates of someone else's secret", got)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	ok := Options{Namespace: "ns", SecretName: "s", ServiceName: "svc", CertDir: "/tmp/x"}
	tests := []struct {
		name   string
		change func(*Options)
		want   bool
	}{
		{"defaults", func(*Options) {}, true},
		{"only an IP", func(o *Options) { o.ServiceName = ""; o.ExtraIPs = []net.IP{net.IPv6loopback} }, true},
		{"no namespace", func(o *Options) { o.Namespace = "" }, false},
		{"no secret", func(o *Options) { o.SecretName = "" }, false},
		{"no cert dir", func(o *Options) { o.CertDir = "" }, false},
		{"no names", func(o *Options) { o.ServiceName = "" }, false},
		{"renew before longer than validity", func(o *Options) { o.RenewBefore = 2 * DefaultCertValidity }, false},
		{"CA shorter than certificate", func(o *Options) { o.CAValidity = DefaultCertValidity }, false},
		{"negative interval", func(o *Options) { o.CheckInterval = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ok
			tt.change(&o)
			_, err := o.withDefaults()
			if (err == nil) != tt.want {
				t.Errorf("err %v, want valid %t", err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("err %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

// TestBootstrapKeepsPKCS8Keys: earlier versions wrote the CA key as
// PKCS #8; such a Secret stays as it is.
func TestBootstrapKeepsPKCS8Keys(t *testing.T) {
	t.Parallel()
	c, n, o, s := bootstrapped(t)
	key, err := keyutil.ParsePrivateKeyPEM(s.Data["ca.key"])
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s.Data["ca.key"] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := c.Update(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	updates := n.get("update")
	if err := Bootstrap(t.Context(), c, o); err != nil {
		t.Fatal(err)
	}
	if got := n.get("update") - updates; got != 0 {
		t.Errorf("%d updates of a secret with a PKCS #8 CA key, want 0", got)
	}
}
