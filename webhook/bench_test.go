package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/certs"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// BenchmarkValidatePodWarm is the validating handler's own cost for a
// 3-container Pod once the resolver's cache holds its images.
func BenchmarkValidatePodWarm(b *testing.B) {
	f := newFixture(b)
	h := handlersFor(&fakeView{platforms: nodes}, f.lookup, nil)
	req := create(podKind, raw(b, podObject(f.good, f.amdOnly, f.latest)))
	validator := h.Validator()
	if resp := validator.Handle(context.Background(), req); !resp.Allowed {
		b.Fatalf("warm-up denied: %+v", resp.Result)
	}
	b.ReportAllocs()
	for b.Loop() {
		validator.Handle(context.Background(), req)
	}
}

// BenchmarkHTTPSAdmissions is admissions per second through a real
// controller-runtime webhook server over TLS on loopback, from parallel
// clients, with a warm cache.
func BenchmarkHTTPSAdmissions(b *testing.B) {
	f := newFixture(b)
	h := handlersFor(&fakeView{platforms: nodes}, f.lookup, nil)
	base, client := serveHTTPS(b, h)
	post := allowedPoster(b, base, client, podObject(f.good, f.amdOnly, f.latest))
	if err := post(); err != nil { // warm the cache and the connection
		b.Fatal(err)
	}
	b.SetParallelism(2) // a few clients per core, as several API servers would be
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := post(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// allowedPoster is a function that posts the validating review of pod
// over client, as the API server would, and fails unless it is allowed.
func allowedPoster(tb testing.TB, base string, client *http.Client, pod any) func() error {
	req := create(podKind, raw(tb, pod))
	body := raw(tb, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	return func() error {
		resp, err := client.Post(base+ValidatePath, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
			return err
		}
		if review.Response == nil || !review.Response.Allowed || review.Response.UID != req.UID {
			return fmt.Errorf("unexpected response %+v", review.Response)
		}
		return nil
	}
}

// serveHTTPS starts a controller-runtime webhook.Server with h registered,
// on a throwaway self-signed certificate, and returns its base URL and a
// client that trusts the certificate.
func serveHTTPS(tb testing.TB, h *Handlers) (string, *http.Client) {
	tb.Helper()
	cert, pool := selfSigned(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: "127.0.0.1", Port: port,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
		}},
	})
	h.Register(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}})
		if err == nil {
			conn.Close()
			return base, client
		}
		if time.Now().After(deadline) {
			tb.Fatalf("webhook server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// selfSigned is a certificate for 127.0.0.1, issued by a CA of the
// project's one generator (certs.Authority), and a pool trusting that CA.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	ca, err := certs.NewAuthority("pullguard-test CA", time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(certs.Serving{CommonName: "pullguard-test", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Validity: time.Hour}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return cert, pool
}

// distinctImages is how many images the 1,000 admissions name.
const distinctImages = 10

// admitThousand sends 1,000 Pods, each naming 3 of distinctImages images,
// through both endpoints as the API server would, with a fresh resolver,
// and returns how many requests the registry served for them.
func admitThousand(tb testing.TB, reg *registrytest.Registry, images []string) int64 {
	tb.Helper()
	h := handlersFor(&fakeView{platforms: nodes, policy: mustPolicy(tb, "  pinDigests: TagAndDigest\n")}, lookupFor(reg.Host), nil)
	mutator, validator := h.Mutator(), h.Validator()
	reqs := make([]admission.Request, distinctImages)
	for i := range reqs {
		reqs[i] = create(podKind, raw(tb, podObject(images[i], images[(i+1)%distinctImages], images[(i+2)%distinctImages])))
	}
	before := reg.Requests()
	for i := range 1000 {
		req := reqs[i%distinctImages]
		if resp := mutator.Handle(context.Background(), req); !resp.Allowed {
			tb.Fatalf("mutator refused: %+v", resp.Result)
		}
		if resp := validator.Handle(context.Background(), req); !resp.Allowed || len(resp.Warnings) != 0 {
			tb.Fatalf("validator: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
		}
	}
	return reg.Requests() - before
}

func pushDistinct(tb testing.TB, reg *registrytest.Registry) []string {
	tb.Helper()
	images := make([]string, distinctImages)
	for i := range images {
		repo := fmt.Sprintf("team/app%d:v1", i)
		reg.PushIndex(tb, repo, amd64, arm64)
		images[i] = reg.Ref(repo)
	}
	return images
}

// BenchmarkRegistryRequests1000 reports the registry requests 1,000
// admissions of Pods naming 10 distinct images cost, cache cold at the start.
func BenchmarkRegistryRequests1000(b *testing.B) {
	reg := registrytest.New(b)
	images := pushDistinct(b, reg)
	var total int64
	runs := 0
	for b.Loop() {
		total += admitThousand(b, reg, images)
		runs++
	}
	b.ReportMetric(float64(total)/float64(runs), "registry-requests/1000-admissions")
}

// TestRegistryRequestsStaySmall: the cache and singleflight keep 1,000
// admissions to a few requests per distinct image.
func TestRegistryRequestsStaySmall(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	images := pushDistinct(t, reg)
	// One /v2/ ping for the registry (the challenge is kept), then per
	// image a GET by tag (digest and index in one answer) and a GET of
	// each entry the nodes would pull, linux/amd64 and linux/arm64
	// (spec.verify Manifests); the registry needs no token.
	const perImage, perRegistry = 3, 1
	if got := admitThousand(t, reg, images); got > distinctImages*perImage+perRegistry {
		t.Errorf("1,000 admissions made %d registry requests, want at most %d", got, distinctImages*perImage+perRegistry)
	} else {
		t.Logf("1,000 admissions made %d registry requests", got)
	}
}
