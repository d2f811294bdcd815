package keychain_test

import (
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/resolve"
)

// The resolver takes a *Keychain as its Credentials; the assertion lives in
// a test so that keychain does not import resolve.
var _ resolve.Credentials = (*keychain.Keychain)(nil)
