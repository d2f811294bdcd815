//go:build e2e

package e2e

import (
	"testing"
)

// TestEphemeralContainer: `kubectl debug` adds an ephemeral container
// through the pods/ephemeralcontainers subresource; a bad image there is
// refused like any other, a good one admitted.
func TestEphemeralContainer(t *testing.T) {
	t.Parallel()
	name := "debug-target"
	r := apply(t, podYAML(t, nsApps, name, spec{image: pub(repoAPI, tagAPI)}))
	wantExit(t, r, 0)

	bad := pub(repoAPI, "v9.9.9")
	r = kubectl(t, "", "debug", "-n", nsApps, "pod/"+name, "--image="+bad, "--container=debugger-bad")
	if r.Code == 0 {
		t.Fatalf("kubectl debug with a missing image was admitted:\n%s", r)
	}
	wantOutput(t, r, deniedBy, "[NotFound]", `container "debugger-bad"`, bad)

	r = kubectl(t, "", "debug", "-n", nsApps, "pod/"+name, "--image="+pub(repoAPI, tagAPINext), "--container=debugger")
	wantExit(t, r, 0)
	got := jsonpath(t, "pod", nsApps, name, "{.spec.ephemeralContainers[*].name}")
	if got != "debugger" {
		t.Errorf("ephemeral containers %q, want only \"debugger\"", got)
	}
}
