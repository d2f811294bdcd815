//go:build e2e

package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// startTroubleRegistry serves, over TLS from the bed's CA, a registry whose
// /v2/ answers 200 and every other request status with a registry error of
// code (the distribution spec's body), and makes the real node trust it. It
// returns its host:port.
func (r *realBed) startTroubleRegistry(t *testing.T, status int, code string) string {
	t.Helper()
	dir := filepath.Join(r.Dir, "trouble-"+code)
	if err := r.CA.Serving(dir, "tls.crt", "tls.key"); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// The version check passes, as on a registry that limits or
		// refuses pulls: the trouble is in the manifest's answer.
		if req.URL.Path == "/v2/" {
			fmt.Fprint(w, "{}")
			return
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "60")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"test bed: %s"}]}`, code, http.StatusText(status))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	host := ln.Addr().String()
	if err := r.Node.TrustRegistry(host, r.CA); err != nil {
		t.Fatal(err)
	}
	return host
}
