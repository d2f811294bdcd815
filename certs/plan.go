package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/keyutil"
)

// Keys of the Secret: the serving pair under the kubernetes.io/tls names,
// and the CA as cert-manager lays it out, plus the CA's key, which renewal
// needs. Nothing else is stored.
const (
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
	keyCA     = "ca.crt"
	keyCAKey  = "ca.key"
	pemCertTy = "CERTIFICATE"
)

// plan decides the Secret data from the current data: it keeps what is
// valid and replaces what is missing, malformed, expiring, or issued for
// other names. reasons say why anything changed (never key material);
// they are empty when data is returned unchanged.
func plan(data map[string][]byte, o Options, name string) (map[string][]byte, []string, error) {
	now := o.Clock()
	var reasons []string
	ca, older, err := loadAuthority(data)
	switch {
	case err != nil && len(data) == 0:
		reasons = append(reasons, "no CA yet")
	case err != nil:
		reasons = append(reasons, fmt.Sprintf("CA unusable (%v)", err))
	case now.Before(ca.cert.NotBefore):
		reasons = append(reasons, "CA not valid yet")
	case now.Add(o.caRenewBefore()).After(ca.cert.NotAfter):
		reasons = append(reasons, fmt.Sprintf("CA expires %s", ca.cert.NotAfter.UTC().Format(time.RFC3339)))
		// The old CA stays trusted while serving certificates it signed
		// may still be served by replicas that have not reloaded.
		older = append([]*x509.Certificate{ca.cert}, older...)
	}
	if len(reasons) > 0 {
		// The time tells rotated CAs apart in the bundle.
		cn := fmt.Sprintf("%s %s@%d", caCommonName, name, now.Unix())
		if ca, err = NewAuthority(cn, now, o.CAValidity); err != nil {
			return nil, nil, err
		}
	}
	bundle := caBundle(ca.cert, older, now)

	certPEM, keyPEM := data[keyCert], data[keyKey]
	if len(reasons) > 0 {
		reasons = append(reasons, "serving certificate follows the new CA")
	} else if why := checkServing(certPEM, keyPEM, ca.cert, o, now); why != "" {
		reasons = append(reasons, why)
	}
	if len(reasons) > 0 {
		if certPEM, keyPEM, err = ca.Issue(o.serving(), now); err != nil {
			return nil, nil, err
		}
	}
	caKeyPEM := data[keyCAKey]
	if len(reasons) > 0 {
		if caKeyPEM, err = encodeKey(ca.key); err != nil {
			return nil, nil, err
		}
	}
	want := map[string][]byte{keyCert: certPEM, keyKey: keyPEM, keyCA: bundle, keyCAKey: caKeyPEM}
	if len(reasons) == 0 && !maps.EqualFunc(data, want, bytes.Equal) {
		// Only the bundle changed (an old CA expired) or stray keys exist.
		reasons = append(reasons, "CA bundle or keys out of date")
	}
	return want, reasons, nil
}

// loadAuthority reads the current CA (the first certificate of ca.crt) and
// its key, and the older CAs that follow it in the bundle.
func loadAuthority(data map[string][]byte) (*Authority, []*x509.Certificate, error) {
	certs, err := parseCerts(data[keyCA])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyCA, err)
	}
	// keyutil reads the SEC1 keys written now and the PKCS #8 keys that
	// earlier versions wrote.
	parsed, err := keyutil.ParsePrivateKeyPEM(data[keyCAKey])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyCAKey, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", keyCAKey)
	}
	ca := certs[0]
	type publicKey interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(publicKey); !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("%s does not belong to the first certificate of %s", keyCAKey, keyCA)
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("%s: the first certificate is not a CA", keyCA)
	}
	return &Authority{cert: ca, key: key}, certs[1:], nil
}

var errNoCertificate = errors.New("no certificate")

// parseCerts reads every CERTIFICATE block; anything else is an error, so a
// damaged bundle is replaced rather than half trusted.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != pemCertTy {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		return nil, errors.New("trailing data that is not PEM")
	}
	if len(certs) == 0 {
		return nil, errNoCertificate
	}
	return certs, nil
}

// caBundle is the current CA, then the older ones still valid at now,
// without repeats.
func caBundle(current *x509.Certificate, older []*x509.Certificate, now time.Time) []byte {
	out := encodeCert(current.Raw)
	seen := [][]byte{current.Raw}
	for _, c := range older {
		if !now.Before(c.NotAfter) || slices.ContainsFunc(seen, func(raw []byte) bool { return bytes.Equal(raw, c.Raw) }) {
			continue
		}
		seen = append(seen, c.Raw)
		out = append(out, encodeCert(c.Raw)...)
	}
	return out
}

// checkServing says why the serving pair must be reissued, or "" when it
// is a matching pair signed by ca, for exactly the wanted names, and not
// within RenewBefore of its end.
func checkServing(certPEM, keyPEM []byte, ca *x509.Certificate, o Options, now time.Time) string {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return "no serving certificate yet"
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Sprintf("serving certificate unusable (%v)", err)
	}
	leaf := pair.Leaf
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return "serving certificate not signed by the current CA"
	}
	if now.Before(leaf.NotBefore) {
		return "serving certificate not valid yet"
	}
	if now.Add(o.RenewBefore).After(leaf.NotAfter) {
		return fmt.Sprintf("serving certificate expires %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if !sameSet(leaf.DNSNames, o.dnsNames()) || !sameSet(ipStrings(leaf.IPAddresses), ipStrings(o.ips())) {
		return fmt.Sprintf("serving certificate names %v %v, want %v %v",
			leaf.DNSNames, leaf.IPAddresses, o.dnsNames(), o.ips())
	}
	return ""
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
