package certs

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/pullguard/pullguard/webhook"
)

// deniedMessage is what the test webhook answers, so a denial carrying it
// proves the API server reached it over TLS with the patched caBundle.
const deniedMessage = "denied by the certs test webhook"

// admissionServer answers every review on the validating path with a
// denial and on the mutating path with an allowance.
func admissionServer(t *testing.T) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	answer := func(allowed bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
				http.Error(w, "bad review", http.StatusBadRequest)
				return
			}
			review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: allowed}
			if !allowed {
				review.Response.Result = &metav1.Status{Message: deniedMessage, Code: http.StatusForbidden}
			}
			review.Request = nil
			_ = json.NewEncoder(w).Encode(review)
		}
	}
	mux.Handle(webhook.MutatePath, answer(true))
	mux.Handle(webhook.ValidatePath, answer(false))
	return mux
}

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:v1"}}},
			},
		},
	}
}

func TestEnvtestBootstrap(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip(`KUBEBUILDER_ASSETS is unset: eval "$(test/testbed/env.sh)" to run against a real API server`)
	}
	t.Parallel()
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := client.NewWithWatch(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	// The port must be in the configurations before the certificate exists.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	fail := admissionregistrationv1.Fail
	co := webhook.ConfigOptions{URL: "https://127.0.0.1:" + strconv.Itoa(port), FailurePolicy: fail}
	for _, obj := range []client.Object{webhook.MutatingConfiguration(co), webhook.ValidatingConfiguration(co)} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	o := Options{
		Namespace: testNamespace, SecretName: testSecret, ServiceName: testService,
		ExtraIPs: []net.IP{net.ParseIP("127.0.0.1")}, CertDir: t.TempDir(),
		WebhookConfigurations: []string{webhook.ConfigurationName},
	}
	if err := Bootstrap(ctx, c, o); err != nil {
		t.Fatal(err)
	}
	s := getSecret(t, c)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type %q", s.Type)
	}
	checkFilesMatchSecret(t, o.CertDir, s)

	// Serve with whatever is in CertDir at each handshake, as certwatcher would.
	srv := &http.Server{Handler: admissionServer(t), ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key"))
			return &pair, err
		},
	}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	denied := func(name string) error {
		err := c.Create(ctx, deployment(testNamespace, name), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), deniedMessage) {
			return err
		}
		return nil
	}
	if err := denied("first"); err != nil {
		t.Fatalf("the API server did not reach the webhook over TLS: %v", err)
	}

	// `helm upgrade` resets the validating caBundle; the runnable puts it
	// back through its watch (the interval is beyond the test).
	o.CheckInterval = time.Hour
	startRunnable(t, c, o)
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, &v); err != nil {
		t.Fatal(err)
	}
	v.Webhooks[0].ClientConfig.CABundle = nil
	if err := c.Update(ctx, &v); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the caBundle is patched back", func() bool { return bundlesAre(t, c, s.Data["ca.crt"]) })
	// The API server's webhook configuration informer may lag the patch.
	eventually(t, "the API server reaches the webhook again", func() bool {
		return denied("second") == nil
	})
}
