package addressguard

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrNoCertificates is returned by SystemPoolWith for PEM data holding no
// certificate, which is always a mistake (a key file, an empty file).
var ErrNoCertificates = errors.New("no PEM certificates found")

// SystemPoolWith is the system's root CAs plus the PEM certificates in pem,
// for Config.RootCAs. A CertPool cannot be merged into another, so the extra
// CAs are appended to a copy of the system pool here rather than in
// Transport. Where the system pool cannot be read, the pool holds pem alone.
func SystemPoolWith(pem []byte) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("registry CA bundle: %w", ErrNoCertificates)
	}
	return pool, nil
}
