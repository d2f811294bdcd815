//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPolicyPrecedence: two policies select one namespace. The one with the
// higher spec.priority decides it although the other's name sorts first;
// the status of each says so (InUse, Shadowed, the namespaces), kubectl get
// shows it, and the shadowed policy gets a Warning Event. The e2e-invalid
// policy gets an InvalidPolicy Event.
func TestPolicyPrecedence(t *testing.T) {
	t.Parallel()
	const (
		ns   = "e2e-precedence"
		low  = "e2e-prec-a-low"
		high = "e2e-prec-b-high"
	)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, labels: {%[2]s: precedence}}
---
apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: %[3]s}
spec:
  namespaceSelector: {matchLabels: {%[2]s: precedence}}
---
apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: %[4]s}
spec:
  priority: 5
  namespaceSelector: {matchLabels: {%[2]s: precedence}}
  actions: {LatestTag: Deny}
`, ns, caseLabel, low, high)
	wantExit(t, apply(t, manifest), 0)
	t.Cleanup(func() { kubectl(t, "", "delete", "imagepolicy", low, high, "--ignore-not-found") })

	conditions := `{range .status.conditions[*]}{.type}={.status}/{.reason} {end}`
	t.Run("status", func(t *testing.T) {
		eventually(t, 30*time.Second, func() string {
			gotHigh := jsonpath(t, "imagepolicy", "", high, conditions+`{.status.namespaceCount} {.status.namespaces}`)
			gotLow := jsonpath(t, "imagepolicy", "", low, conditions+`{.status.shadowedBy[*].policy}`)
			wantHigh := `Ready=True/Valid InUse=True/Applies Shadowed=False/NotShadowed 1 ["` + ns + `"]`
			wantLow := `Ready=True/Valid InUse=False/ShadowedBy Shadowed=True/ShadowedBy ` + high
			if gotHigh != wantHigh || gotLow != wantLow {
				return fmt.Sprintf("status of %s %q, want %q; of %s %q, want %q", high, gotHigh, wantHigh, low, gotLow, wantLow)
			}
			return ""
		})
		r := kubectl(t, "", "get", "imagepolicy", low, high)
		wantExit(t, r, 0)
		wantOutput(t, r, "PRIORITY", "INUSE", "NAMESPACES")
		if f := strings.Fields(lineWith(r.Stdout, high)); len(f) < 4 || f[3] != "5" {
			t.Errorf("kubectl get does not show %s with priority 5:\n%s", high, r)
		}
	})

	t.Run("admission", func(t *testing.T) {
		// Eventually: the webhook's cache learns of the policies
		// asynchronously.
		eventually(t, 30*time.Second, func() string {
			r := apply(t, podYAML(t, ns, "latest", spec{image: pub(repoRedis, "latest")}), "--dry-run=server")
			want := fmt.Sprintf(`image policy %q denies`, high)
			if r.Code != 1 || !strings.Contains(r.Output(), want) {
				return fmt.Sprintf("want a denial naming %q, got:\n%s", want, r)
			}
			return ""
		})
	})

	t.Run("events", func(t *testing.T) {
		for _, tc := range []struct{ policy, reason, note string }{
			{low, "Shadowed", fmt.Sprintf(`policy %q (priority 5 > 0) decides 1 namespace it selects: %s`, high, ns)},
			{"e2e-invalid", "InvalidPolicy", "pullguard skips this policy: spec.namespaceSelector"},
		} {
			eventually(t, 30*time.Second, func() string {
				got := getJSONPath(t, the.Kubectl, "events", "default", "",
					fmt.Sprintf(`{range .items[?(@.involvedObject.name=="%s")]}{.type} {.reason} {.message}{"\n"}{end}`, tc.policy))
				if !strings.Contains(got, "Warning "+tc.reason+" "+tc.note) {
					return fmt.Sprintf("events of imagepolicy %s: %q, want a Warning %s with %q", tc.policy, got, tc.reason, tc.note)
				}
				return ""
			})
		}
	})
}

// lineWith is the first line of out that starts with prefix, or "".
func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
