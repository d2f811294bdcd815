package resolve

import (
	"errors"

	"github.com/pullguard/pullguard/internal/addressguard"
)

// classifyBlocked recognises the address guard's refusals: a dial to a
// forbidden address, or plain HTTP to a host not listed as insecure.
func classifyBlocked(err error) (Class, string, bool) {
	var be *addressguard.BlockedError
	if errors.As(err, &be) {
		return AddressBlocked, be.Error(), true
	}
	var pe *addressguard.PlainHTTPError
	if errors.As(err, &pe) {
		return AddressBlocked, pe.Error(), true
	}
	return "", "", false
}
