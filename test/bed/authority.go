package bed

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pullguard/pullguard/certs"
)

// validity is how long the bed's certificates live: longer than any run.
const validity = 24 * time.Hour

// Authority is the bed's throwaway CA: it signs each registry's serving
// certificate (and the webhook's, unless serve bootstraps its own), so the
// API server, pullguard and the fixtures' pushes all verify TLS instead of
// skipping it. It is the CA of serve --self-signed (certs.Authority), so
// the project has one certificate generator.
type Authority struct {
	ca *certs.Authority
	// PEM is the CA certificate; PEMPath the file holding it.
	PEM     []byte
	PEMPath string
}

// NewAuthority makes a CA valid for a day and writes its certificate to
// dir/ca.crt.
func NewAuthority(dir string) (*Authority, error) {
	ca, err := certs.NewAuthority("pullguard test bed CA", time.Now(), validity)
	if err != nil {
		return nil, err
	}
	a := &Authority{ca: ca, PEM: ca.CertificatePEM()}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a.PEMPath = filepath.Join(dir, "ca.crt")
	return a, os.WriteFile(a.PEMPath, a.PEM, 0o600)
}

// Serving writes a certificate for 127.0.0.1 and localhost signed by a, as
// certFile and keyFile in dir (Go clients demand the IP in the SANs).
func (a *Authority) Serving(dir, certFile, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cert, key, err := a.ca.Issue(certs.Serving{
		CommonName: "localhost", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, Validity: validity,
	}, time.Now())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, certFile), cert, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, keyFile), key, 0o600)
}

// Transport trusts only the bed's CA.
func (a *Authority) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AddCert(a.ca.Certificate())
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t
}
