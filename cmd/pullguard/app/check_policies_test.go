package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A --policy file with several ImagePolicies is used whole: each object's
// namespace is decided by the webhook's rule (priority, then selective over
// catch-all, then name), with the labels of the Namespace objects in the
// manifests.
func TestCheckMultiDocumentPolicy(t *testing.T) {
	t.Parallel()
	fx := newFixtures(t)
	dir := t.TempDir()
	latest := fx.public.Ref("shop/api:latest")
	policyFile := writeFile(t, dir, "policies.yaml", `apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: a-baseline}
spec:
  network: {insecureRegistries: [`+fx.public.Host+`]}
---
apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: b-prod}
spec:
  namespaceSelector: {matchLabels: {env: prod}}
  actions: {LatestTag: Deny}
  network: {insecureRegistries: [`+fx.public.Host+`]}
---
apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: c-audit-everything}
spec:
  priority: 10
  mode: Audit
  namespaceSelector: {matchLabels: {audit: "true"}}
  actions: {LatestTag: Deny}
  network: {insecureRegistries: [`+fx.public.Host+`]}
`)
	in := func(ns, name string) string {
		return strings.Replace(deployment(name, latest), "namespace: shop", "namespace: "+ns, 1)
	}
	manifests := writeFile(t, dir, "app.yaml", strings.Join([]string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: audited, labels: {env: prod, audit: \"true\"}}\n",
		in("shop", "web"),
		in("audited", "batch"),
		in("dev", "toy"), // not created here: only its name label
	}, "---\n"))
	// No --insecure-registry: only the policies' network allowance lets
	// check reach the plain-HTTP test registry, so each policy's own
	// network is used.
	code, stdout, stderr := runMain(t, "", "check", "-f", manifests, "--policy", policyFile, "-o", "json")
	if code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s\n%s", code, ExitDenied, stderr, stdout)
	}
	var out checkOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	var got []finding
	for _, f := range out.Findings {
		got = append(got, finding{Object: f.Object, Container: f.Container, Finding: f.Finding, Action: f.Action})
	}
	want := []finding{
		{Object: "Deployment/shop/web", Container: "c0", Finding: "LatestTag", Action: "Deny"},       // b-prod: selective beats the catch-all
		{Object: "Deployment/audited/batch", Container: "c0", Finding: "LatestTag", Action: "Audit"}, // c-audit-everything: priority 10
		{Object: "Deployment/dev/toy", Container: "c0", Finding: "LatestTag", Action: "Warn"},        // a-baseline
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%s", diff, stdout)
	}
}

// A --policy file is all used or an error, never silently its first document.
func TestCheckPolicyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	policy := func(name, spec string) string {
		return "apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: " + name + "}\nspec: {" + spec + "}\n"
	}
	tests := []struct {
		name, file string
		wantStderr []string
	}{
		{"a bad second document names its line", policy("a", "") + "---\n" + policy("b", "mode: Sometimes"),
			[]string{"p.yaml:6:", `"Sometimes"`}},
		{"a document that is not an ImagePolicy", policy("a", "") + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			[]string{"p.yaml:6:", `kind "ConfigMap"`}},
		{"a name given twice", policy("a", "") + "---\n" + policy("a", "mode: Audit"),
			[]string{"p.yaml:6:", `a second ImagePolicy named "a" (the first is on line 1)`}},
		{"no document", "# nothing\n", []string{"no ImagePolicy"}},
		{"a priority out of range", policy("a", "priority: 2000000"), []string{"spec.priority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, t.TempDir(), "p.yaml", tt.file)
			code, _, stderr := runMain(t, "", "check", "-f", good, "--policy", file)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d; stderr: %s", code, ExitUsage, stderr)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not mention %q", stderr, s)
				}
			}
		})
	}
}
