//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/pullguard/pullguard/examples/demo/walkthrough"
)

// TestDemoWalkthrough: every step `make run` shows comes out as the demo
// says it does (each denial, warning, pin and mirror, and pullguard check
// on the same files), against this suite's bed with the demo's images.
func TestDemoWalkthrough(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := walkthrough.Vars(the.Public, the.Private)
	if _, err := walkthrough.Render(filepath.Join("..", "..", "examples", "manifests"), dir, vars); err != nil {
		t.Fatal(err)
	}
	k := the.Kubectl
	k.Dir = dir
	var out bytes.Buffer
	err := walkthrough.Run(context.Background(), walkthrough.Env{Kubectl: k, Vars: vars, Pullguard: the.Binaries.Pullguard, RegistryCA: the.CA.PEMPath, Out: &out})
	if err != nil {
		t.Errorf("%v\nwalkthrough output:\n%s", err, out.String())
	}
}
