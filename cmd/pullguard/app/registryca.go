package app

import (
	"crypto/x509"
	"os"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// registryRootCAs reads --registry-ca-file, which check and serve share:
// the system pool plus the file's certificates, or nil when path is "" (the
// system pool alone). Errors are usage errors: the file is the user's.
func registryRootCAs(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("--registry-ca-file: %w", err)
	}
	pool, err := addressguard.SystemPoolWith(data)
	if err != nil {
		return nil, usageError("--registry-ca-file %s: %w", path, err)
	}
	return pool, nil
}
