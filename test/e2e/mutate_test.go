//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPodsMutated: the policies selecting a namespace rewrite the Pods
// stored there: digests pinned, images pulled through the mirror, node
// affinity for an image built for some of the cluster's platforms only.
func TestPodsMutated(t *testing.T) {
	t.Parallel()
	api := pub(repoAPI, tagAPI)
	apiDigest := digest(api)
	amd64Only := pub(repoAMD64, tagSingleArch)
	tests := []struct {
		name, ns string
		image    string
		path     string // jsonpath into the stored Pod
		want     string
	}{{
		name: "pin", ns: nsPin, image: api,
		path: "{.spec.containers[0].image}",
		want: api + "@" + apiDigest.String(),
	}, {
		name: "mirror", ns: nsMirror, image: api,
		path: "{.spec.containers[0].image}",
		want: fmt.Sprintf("%s/%s/%s:%s", the.Public.Host, mirrorPrefix, repoAPI, tagAPI),
	}, {
		name: "affinity", ns: nsAffinity, image: amd64Only,
		path: `{range .spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[*].matchExpressions[*]}{.key} {.operator} {.values}{"\n"}{end}`,
		want: "kubernetes.io/os In [\"linux\"]\nkubernetes.io/arch In [\"amd64\"]\n",
	}, {
		// Without the policy, the same image is admitted as written.
		name: "no-policy", ns: nsApps, image: api,
		path: "{.spec.containers[0].image}",
		want: api,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "mutated-" + tc.name
			r := apply(t, podYAML(t, tc.ns, name, spec{image: tc.image}))
			wantExit(t, r, 0)
			wantOutput(t, r, fmt.Sprintf("pod/%s created", name))
			if got := jsonpath(t, "pod", tc.ns, name, tc.path); got != tc.want {
				t.Errorf("stored pod %s = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

// TestPartialPlatformWarns: in a mixed cluster an image built for one of
// its platforms is admitted with a warning when no policy adds affinity.
func TestPartialPlatformWarns(t *testing.T) {
	t.Parallel()
	image := pub(repoAMD64, tagSingleArch)
	r := apply(t, deploymentYAML(t, nsApps, "partial-platform", spec{image: image}))
	wantExit(t, r, 0)
	want := []string{fmt.Sprintf(`Warning: pullguard: container "app": image %q: no build for some platform the pod may run on`, image)}
	if diff := diffLines(want, warnings(r)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%s", diff, r)
	}
}

// TestPolicyStatus: pullguard reports on each ImagePolicy whether it is in
// use; one the CRD lets through but Compile refuses is Ready=False.
func TestPolicyStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		policy, status, reason string
		message                string // a part of the condition's message
	}{
		{policy: "e2e-pin", status: "True", reason: "Valid"},
		{policy: "e2e-mirror", status: "True", reason: "Valid"},
		{policy: "e2e-invalid", status: "False", reason: "Invalid", message: "spec.namespaceSelector"},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			path := `{range .status.conditions[?(@.type=="Ready")]}{.status} {.reason} {.message}{end}`
			var got string
			eventually(t, 20*time.Second, func() string {
				got = jsonpath(t, "imagepolicy", "", tc.policy, path)
				if strings.HasPrefix(got, tc.status+" "+tc.reason+" ") && strings.Contains(got, tc.message) {
					return ""
				}
				return fmt.Sprintf("Ready condition %q, want status %s, reason %s, message with %q", got, tc.status, tc.reason, tc.message)
			})
			// The printer column a user reads with kubectl get.
			r := kubectl(t, "", "get", "imagepolicy", tc.policy)
			wantExit(t, r, 0)
			wantOutput(t, r, "READY")
		})
	}
}
