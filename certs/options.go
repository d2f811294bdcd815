package certs

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// Defaults for Options' zero values. The CA lives long so that caBundle,
// which `helm upgrade` and GitOps tools may have to re-learn, rarely
// changes; the serving certificate is renewed yearly with a month to spare,
// which leaves room for a failed renewal to be noticed and retried.
const (
	DefaultCAValidity    = 10 * 365 * 24 * time.Hour
	DefaultCertValidity  = 365 * 24 * time.Hour
	DefaultRenewBefore   = 30 * 24 * time.Hour
	DefaultCheckInterval = time.Minute
	// clockSkew backdates NotBefore so that an API server whose clock is a
	// little behind ours still accepts a certificate issued just now.
	clockSkew = time.Hour
	// clusterDomain is the default cluster DNS domain.
	clusterDomain = "cluster.local"
)

// Options say where the certificate lives, which names it is valid for and
// which webhook configurations trust it.
type Options struct {
	// Namespace and SecretName locate the kubernetes.io/tls Secret holding
	// the CA (ca.crt, ca.key) and the serving certificate (tls.crt, tls.key).
	Namespace, SecretName string
	// ServiceName is the webhook's Service: the certificate is valid for
	// svc, svc.ns, svc.ns.svc and svc.ns.svc.cluster.local.
	ServiceName string
	// ExtraDNSNames and ExtraIPs are added to the certificate, e.g.
	// 127.0.0.1 for a webhook reached by URL in local runs.
	ExtraDNSNames []string
	ExtraIPs      []net.IP
	// CertDir receives tls.crt and tls.key for the webhook server.
	CertDir string
	// WebhookConfigurations names the Mutating and Validating webhook
	// configurations (both kinds share the name) whose caBundle is kept.
	WebhookConfigurations []string
	// CAValidity, CertValidity and RenewBefore default to DefaultCAValidity,
	// DefaultCertValidity and DefaultRenewBefore.
	CAValidity, CertValidity, RenewBefore time.Duration
	// CheckInterval is how often the Runnable re-checks everything on top of
	// watching; defaults to DefaultCheckInterval.
	CheckInterval time.Duration
	// Clock defaults to time.Now; tests set it.
	Clock func() time.Time
}

// ErrInvalidOptions is wrapped by every error about Options.
var ErrInvalidOptions = errors.New("invalid certificate options")

// withDefaults fills zero values and checks what is left.
func (o Options) withDefaults() (Options, error) {
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	switch {
	case o.Namespace == "" || o.SecretName == "":
		return o, fmt.Errorf("%w: the namespace and name of the secret are required", ErrInvalidOptions)
	case o.CertDir == "":
		return o, fmt.Errorf("%w: the certificate directory is required", ErrInvalidOptions)
	case len(o.dnsNames()) == 0 && len(o.ExtraIPs) == 0:
		return o, fmt.Errorf("%w: a service name, DNS name or IP address is required", ErrInvalidOptions)
	case o.CAValidity < 0 || o.CertValidity < 0 || o.RenewBefore < 0 || o.CheckInterval < 0:
		return o, fmt.Errorf("%w: durations must be positive", ErrInvalidOptions)
	case o.RenewBefore >= o.CertValidity:
		return o, fmt.Errorf("%w: renew before (%s) must be shorter than the certificate validity (%s)",
			ErrInvalidOptions, o.RenewBefore, o.CertValidity)
	case o.caRenewBefore() >= o.CAValidity:
		// Otherwise every check would find the new CA near its end.
		return o, fmt.Errorf("%w: the CA validity (%s) must exceed the certificate validity plus renew before (%s)",
			ErrInvalidOptions, o.CAValidity, o.caRenewBefore())
	}
	return o, nil
}

// caRenewBefore is when the CA rotates: early enough that a serving
// certificate issued by it just before still gets its full validity.
func (o Options) caRenewBefore() time.Duration { return o.CertValidity + o.RenewBefore }

// dnsNames are the certificate's DNS names, the Service's first.
func (o Options) dnsNames() []string {
	var names []string
	if o.ServiceName != "" {
		svc, ns := o.ServiceName, o.Namespace
		names = append(names, svc, svc+"."+ns, svc+"."+ns+".svc", svc+"."+ns+".svc."+clusterDomain)
	}
	for _, n := range o.ExtraDNSNames {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// ips are ExtraIPs without duplicates, in the 16-byte form x509 parses back.
func (o Options) ips() []net.IP {
	var ips []net.IP
	for _, ip := range o.ExtraIPs {
		if ip == nil || slices.ContainsFunc(ips, ip.Equal) {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}
