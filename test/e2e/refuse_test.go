//go:build e2e

package e2e

import (
	"fmt"
	"testing"

	"github.com/pullguard/pullguard/webhook"
)

// deniedBy is the line kubectl prints for a denial of the validating webhook.
var deniedBy = fmt.Sprintf("admission webhook %q denied the request", webhook.ValidatingWebhookName)

// TestApplyRefused: what would end in ImagePullBackOff is refused at
// `kubectl apply`, with the message a user fixes it from, and a server-side
// dry run gives the same answer and stores nothing.
func TestApplyRefused(t *testing.T) {
	t.Parallel()
	amd64Only := map[string]string{"kubernetes.io/arch": "amd64"}
	tests := []struct {
		name   string
		spec   spec
		denies string // how many image uses the heading counts
		want   []string
	}{{
		// The repository has no "latest": both findings, and the fix
		// names the newest version.
		name:   "no-tag",
		spec:   spec{image: the.Public.Host + "/" + repoAPI},
		denies: "2 image uses",
		want: []string{"[ImplicitLatest]", fmt.Sprintf(`image %q names no tag`, the.Public.Host+"/"+repoAPI),
			"[NotFound]", fmt.Sprintf("use an existing tag such as %q", pub(repoAPI, tagAPINext))},
	}, {
		name: "missing-tag",
		spec: spec{image: pub(repoAPI, "v1.2.9")},
		want: []string{"[NotFound]", fmt.Sprintf("image %q not found", pub(repoAPI, "v1.2.9")),
			"tags nearby: ", tagAPI, tagAPINext, "use an existing tag such as"},
	}, {
		name: "private-without-secret",
		spec: spec{image: priv(repoBilling, tagBilling)},
		want: []string{"[Unauthorized]", fmt.Sprintf("registry %q refused to serve it without valid credentials", the.Private.Host),
			"no credentials for " + the.Private.Host + " were found", "kubectl create secret docker-registry"},
	}, {
		name: "wrong-arch",
		spec: spec{image: pub(repoARM64, tagSingleArch), nodeSelector: amd64Only},
		want: []string{"[PlatformMismatch]", "it has linux/arm64, the pod needs linux/amd64"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "refused-" + tc.name
			manifest := deploymentYAML(t, nsApps, name, tc.spec)
			denies := tc.denies
			if denies == "" {
				denies = "1 image use"
			}
			heading := fmt.Sprintf(`image policy "(built-in)" denies %s of Deployment/%s/%s:`, denies, nsApps, name)
			for _, flags := range [][]string{{"--dry-run=server"}, nil} {
				r := apply(t, manifest, flags...)
				wantExit(t, r, 1)
				wantOutput(t, r, append([]string{deniedBy, heading}, tc.want...)...)
				wantNoOutput(t, r, "created")
				wantAbsent(t, "deployment", nsApps, name)
			}
		})
	}
}

// TestApplyAdmitted: the same private image is admitted once the pod can
// pull it, with a secret on the pod or on its service account; dry runs
// create nothing; explicit :latest is admitted with a warning.
func TestApplyAdmitted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     spec
		warnings []string
	}{{
		name: "secret-on-pod",
		spec: spec{image: priv(repoBilling, tagBilling), pullSecret: podSecret},
	}, {
		name: "secret-on-service-account",
		spec: spec{image: priv(repoBilling, tagBilling), serviceAccount: saWithPull},
	}, {
		name: "multi-arch",
		spec: spec{image: pub(repoAPI, tagAPINext)},
	}, {
		name: "explicit-latest",
		spec: spec{image: pub(repoRedis, "latest")},
		warnings: []string{fmt.Sprintf(`Warning: pullguard: container "app": image %q: mutable :latest; name a version tag or digest`,
			pub(repoRedis, "latest"))},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "admitted-" + tc.name
			manifest := deploymentYAML(t, nsApps, name, tc.spec)

			dry := apply(t, manifest, "--dry-run=server")
			wantExit(t, dry, 0)
			wantOutput(t, dry, fmt.Sprintf("deployment.apps/%s created (server dry run)", name))
			if diff := diffLines(tc.warnings, warnings(dry)); diff != "" {
				t.Errorf("dry-run warnings (-want +got):\n%s\n%s", diff, dry)
			}
			wantAbsent(t, "deployment", nsApps, name)

			r := apply(t, manifest)
			wantExit(t, r, 0)
			wantOutput(t, r, fmt.Sprintf("deployment.apps/%s created", name))
			if diff := diffLines(tc.warnings, warnings(r)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\n%s", diff, r)
			}
			if got := jsonpath(t, "deployment", nsApps, name, "{.spec.template.spec.containers[0].image}"); got != tc.spec.image {
				t.Errorf("stored image %q, want %q as written (templates are not mutated by default)", got, tc.spec.image)
			}
		})
	}
}
