package resolve

import (
	"errors"
	"fmt"
	"net"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// classifyBlocked recognises the address guard's refusals: a dial to a
// forbidden address is image.AddressBlocked. Plain HTTP to a host not listed as
// insecure is a setup problem, not a forbidden address: go-containerregistry
// tries HTTPS first and HTTP second for loopback and private hosts, so the
// refusal of the second try is reported only when the first one reached a
// server that spoke plain HTTP (the HTTPS try failed without a network
// error or a certificate that did not verify); otherwise the HTTPS failure
// (connection refused, bad certificate) is the better reason and
// classification goes on.
func classifyBlocked(err error) (image.Class, string, bool) {
	var be *addressguard.BlockedError
	if errors.As(err, &be) {
		return image.AddressBlocked, be.Error(), true
	}
	var pe *addressguard.PlainHTTPError
	var dial *net.OpError
	// net/http reports "server gave HTTP response to HTTPS client" as an
	// untyped error, so the sign that HTTPS reached a plain HTTP server is
	// that it failed without a network error.
	// A certificate that did not verify is a TLS answer too, and the
	// better reason: the registry speaks HTTPS with a CA pullguard lacks.
	if _, badCert := classifyCertificate(err); errors.As(err, &pe) && !errors.As(err, &dial) && !badCert {
		return image.Unreachable, fmt.Sprintf("registry %q speaks plain HTTP, which pullguard uses only for registries listed as insecure "+
			"(--insecure-registry, or spec.network.insecureRegistries)", pe.Host), true
	}
	return "", "", false
}
