//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// webhookTimeout is the configurations' timeoutSeconds.
const webhookTimeout = 10 * time.Second

// TestRegistryTrouble: a registry that is down or hangs is not the image's
// fault: the apply returns before the webhook timeout and the policy
// decides (built-in: admitted with a warning).
func TestRegistryTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, host string }{
		{"down", the.down},
		{"hanging", the.hang.Addr()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			image := fmt.Sprintf("%s/%s:%s", tc.host, repoAPI, tagAPI)
			name := "registry-" + tc.name
			r := apply(t, deploymentYAML(t, nsApps, name, spec{image: image}))
			wantExit(t, r, 0)
			wantOutput(t, r, fmt.Sprintf("deployment.apps/%s created", name))
			want := []string{fmt.Sprintf(`Warning: pullguard: container "app": image %q: registry unreachable from pullguard`, image)}
			if diff := diffLines(want, warnings(r)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\n%s", diff, r)
			}
			if r.Elapsed >= webhookTimeout {
				t.Errorf("kubectl apply took %s, not less than the webhook timeout %s", r.Elapsed, webhookTimeout)
			}
		})
	}
}
