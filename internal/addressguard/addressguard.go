// Package addressguard decides which network addresses pullguard may dial.
//
// The registry host of an image reference is user input: anyone who can
// create a pod can name any host, and pullguard dials it from inside the
// cluster with cluster credentials. Without a guard that turns admission into
// a server-side request forgery oracle against cloud metadata endpoints and
// internal services. The guard checks the resolved IP at dial time, so DNS
// answers (including rebinding between a check and a dial) cannot route
// around it.
package addressguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"

	"golang.org/x/net/http/httpproxy"
)

// Config says which otherwise refused destinations are allowed. The zero
// value allows only public addresses over verified HTTPS.
type Config struct {
	// AllowLoopback allows 127.0.0.0/8 and ::1 (a registry on the node, tests).
	AllowLoopback bool
	// AllowPrivate allows 10/8, 172.16/12, 192.168/16, fc00::/7 and 100.64/10
	// (in-cluster and VPC registries).
	AllowPrivate bool
	// InsecureRegistries are hosts ("host" for any port, or "host:port")
	// where plain HTTP and unverified TLS are allowed.
	InsecureRegistries []string
	// RootCAs, when set, verifies registries' certificates instead of the
	// system pool; build it with SystemPoolWith so private CAs (an in-cluster
	// registry, a test CA) are trusted on top of the public ones. Nil uses
	// the system pool.
	RootCAs *x509.CertPool
	// Certificates are client certificates offered to registries that ask
	// (a mirror with mutual TLS).
	Certificates []tls.Certificate
	// Proxy, when set, sends requests through HTTP proxies as net/http
	// would with these settings (ProxyFromEnvironment reads them); the
	// registry's name is checked before a request goes to the proxy.
	Proxy *httpproxy.Config
	// LookupNetIP resolves a registry's name for that check; nil uses
	// net.DefaultResolver.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError is the refusal of one address. It never carries credentials.
type BlockedError struct {
	// Host is the name that was dialled ("metadata.internal"), or "".
	Host string
	// Addr is the address it resolved to.
	Addr   netip.Addr
	Reason string
}

func (e *BlockedError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("address %s is blocked: %s", e.Addr, e.Reason)
	}
	return fmt.Sprintf("address %s of %q is blocked: %s", e.Addr, e.Host, e.Reason)
}

// The reasons of BlockedError.
const (
	reasonMetadata    = "link-local and cloud metadata addresses are never dialled"
	reasonUnspecified = "unspecified addresses are never dialled"
	reasonMulticast   = "multicast and broadcast addresses are never dialled"
	reasonInvalid     = "not a valid ip address"
	reasonLoopback    = "loopback addresses are dialled only when allowLoopback is set"
	reasonPrivate     = "private addresses are dialled only when allowPrivate is set"
)

// metadata are cloud instance metadata endpoints that hand out instance
// credentials to whoever asks from inside the machine. Each is refused
// whatever the config, even where a wider allowed range contains it.
var metadata = []netip.Addr{
	// AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean instance metadata
	// (also inside 169.254/16, listed so the reason never depends on that).
	netip.MustParseAddr("169.254.169.254"),
	// AWS instance metadata over IPv6 on Nitro instances; inside fc00::/7,
	// so AllowPrivate alone would otherwise open it.
	netip.MustParseAddr("fd00:ec2::254"),
	// Alibaba Cloud instance metadata; inside 100.64/10 (shared address
	// space), so AllowPrivate alone would otherwise open it.
	netip.MustParseAddr("100.100.100.200"),
	// Azure WireServer: a public address every Azure VM reaches, serving
	// the VM's agent configuration and certificates.
	netip.MustParseAddr("168.63.129.16"),
}

var (
	// thisNetwork is 0.0.0.0/8: Linux dials 0.0.0.0 as the local host.
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	broadcast   = netip.MustParseAddr("255.255.255.255")
	// sharedSpace is RFC 6598 carrier-grade NAT space, used by some
	// clusters (e.g. GKE, Tailscale) as a private range.
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	// nat64 is the RFC 6052 well-known prefix: on a NAT64 network
	// 64:ff9b::a9fe:a9fe reaches 169.254.169.254, so the embedded IPv4
	// address is checked too.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// Check returns a *BlockedError when addr, the address host resolved to, must
// not be dialled under c, or nil.
func (c Config) Check(host string, addr netip.Addr) error {
	if reason := c.refusal(addr); reason != "" {
		return &BlockedError{Host: host, Addr: addr, Reason: reason}
	}
	return nil
}

// refusal is the reason addr is refused, or "".
func (c Config) refusal(addr netip.Addr) string {
	if !addr.IsValid() {
		return reasonInvalid
	}
	// ::ffff:169.254.169.254 dials 169.254.169.254.
	a := addr.Unmap().WithZone("")
	if a.Is6() && nat64.Contains(a) {
		b := a.As16()
		if r := c.refusal(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r
		}
	}
	for _, m := range metadata {
		if a == m {
			return reasonMetadata
		}
	}
	switch {
	case a.IsLinkLocalUnicast():
		return reasonMetadata
	case a.IsUnspecified(), thisNetwork.Contains(a):
		return reasonUnspecified
	case a.IsMulticast(), a == broadcast:
		return reasonMulticast
	case a.IsLoopback():
		if !c.AllowLoopback {
			return reasonLoopback
		}
	case a.IsPrivate(), sharedSpace.Contains(a):
		if !c.AllowPrivate {
			return reasonPrivate
		}
	}
	return ""
}
