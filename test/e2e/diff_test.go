//go:build e2e

package e2e

import (
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// diffLines compares lists of lines, nil and empty alike.
func diffLines(want, got []string) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}
