package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"k8s.io/client-go/util/keyutil"
)

// caCommonName names the CA so that `openssl x509 -text` says whose it is.
const caCommonName = "pullguard webhook CA"

// Authority is a CA that signs serving certificates: the self-signed mode's
// CA, and the e2e test bed's (test/bed), so that one generator exists.
type Authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Serving describes a serving certificate: the names it is valid for and
// how long. It never outlives its CA.
type Serving struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	Validity   time.Duration
}

// newKey is an ECDSA P-256 key: small, fast, and accepted by every
// supported API server.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// serialNumber is random and 128 bits long, as RFC 5280 allows and CAs do.
func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// NewAuthority issues a self-signed CA named commonName, valid from now
// (backdated by an hour for clock skew) for validity. client-go's
// cert.NewSelfSignedCACert is not used: it fixes the validity at ten years
// from the wall clock, which neither Options.CAValidity nor Options.Clock
// could then change.
func NewAuthority(commonName string, now time.Time, validity time.Duration) (*Authority, error) {
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, fmt.Errorf("generate CA serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaf certificates only.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	return &Authority{cert: cert, key: key}, nil
}

// Certificate is the CA's certificate, e.g. for a client's trust pool.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CertificatePEM is the CA's certificate as PEM, e.g. for a caBundle.
func (a *Authority) CertificatePEM() []byte { return encodeCert(a.cert.Raw) }

// Issue signs a serving certificate valid from now and returns it and its
// key as PEM. client-go's cert package has no such function: its
// GenerateSelfSignedCertKey makes a new CA for every certificate and
// discards the CA's key, so nothing could be renewed under the same CA.
func (a *Authority) Issue(s Serving, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, fmt.Errorf("generate serving serial number: %w", err)
	}
	notAfter := now.Add(s.Validity)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.CommonName},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     s.DNSNames,
		IPAddresses:  s.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("create serving certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// serving is the serving certificate o asks for: the Service's names (its
// CommonName svc.ns.svc, the name the API server dials) and the extra ones.
func (o Options) serving() Serving {
	dns := o.dnsNames()
	cn := ""
	if len(dns) > 0 {
		cn = dns[len(dns)-1]
		if o.ServiceName != "" {
			cn = dns[2]
		}
	}
	return Serving{CommonName: cn, DNSNames: dns, IPs: o.ips(), Validity: o.CertValidity}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertTy, Bytes: der})
}

// encodeKey writes an EC or RSA key in the form keyutil.ParsePrivateKeyPEM
// reads back.
func encodeKey(key crypto.Signer) ([]byte, error) {
	b, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return b, nil
}
