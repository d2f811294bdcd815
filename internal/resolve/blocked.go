package resolve

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// classifyBlocked recognises the address guard's refusals: a dial to a
// forbidden address is AddressBlocked. Plain HTTP to a host not listed as
// insecure is a setup problem, not a forbidden address: go-containerregistry
// tries HTTPS first and HTTP second for loopback and private hosts, so the
// refusal of the second try is reported only when the first one showed the
// registry speaks plain HTTP; otherwise the HTTPS failure (connection refused,
// bad certificate) is the better reason and classification goes on.
func classifyBlocked(err error) (Class, string, bool) {
	var be *addressguard.BlockedError
	if errors.As(err, &be) {
		return AddressBlocked, be.Error(), true
	}
	var pe *addressguard.PlainHTTPError
	var rh tls.RecordHeaderError
	if errors.As(err, &pe) && errors.As(err, &rh) {
		return Unreachable, fmt.Sprintf("registry %q speaks plain HTTP, which pullguard uses only for registries listed as insecure "+
			"(--insecure-registry, or spec.network.insecureRegistries)", pe.Host), true
	}
	return "", "", false
}
