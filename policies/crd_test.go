package policies

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// The CRD schema and the Go validation must enforce the same rules; these
// tests fail when a marker in v1alpha1 and a constant here drift apart (or
// when the CRD was not regenerated).
func TestCRDMatchesGoValidation(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("crd/pullguard.io_imagepolicies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		t.Fatal(err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Subresources == nil || crd.Spec.Versions[0].Subresources.Status == nil {
		t.Fatal("want one version with the status subresource")
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	p := spec.Properties

	for name, want := range map[string]string{
		"exemptImages":      patternGlob,
		"allowedRegistries": patternGlob,
	} {
		if got := p[name].Items.Schema.Pattern; got != want {
			t.Errorf("%s pattern: CRD %q, Go %q", name, got, want)
		}
		if got := *p[name].Items.Schema.MaxLength; got != maxStringLength {
			t.Errorf("%s maxLength: CRD %d, Go %d", name, got, maxStringLength)
		}
		if got := *p[name].MaxItems; got != maxPatterns {
			t.Errorf("%s maxItems: CRD %d, Go %d", name, got, maxPatterns)
		}
	}
	mirror := p["mirrors"].Items.Schema.Properties
	if mirror["from"].Pattern != patternPrefix || mirror["to"].Pattern != patternPrefix {
		t.Errorf("mirror patterns: CRD %q %q, Go %q", mirror["from"].Pattern, mirror["to"].Pattern, patternPrefix)
	}
	if got := *p["mirrors"].MaxItems; got != maxMirrors {
		t.Errorf("mirrors maxItems: CRD %d, Go %d", got, maxMirrors)
	}
	insecure := p["network"].Properties["insecureRegistries"]
	if insecure.Items.Schema.Pattern != patternHost || *insecure.MaxItems != maxInsecureHosts {
		t.Errorf("insecureRegistries: CRD %q %d", insecure.Items.Schema.Pattern, *insecure.MaxItems)
	}
	if pr := p["priority"]; pr.Minimum == nil || pr.Maximum == nil || *pr.Minimum != -maxPriority || *pr.Maximum != maxPriority {
		t.Errorf("priority bounds: CRD %v..%v, Go ±%d", pr.Minimum, pr.Maximum, maxPriority)
	}
	status := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties
	if got := *status["namespaces"].MaxItems; got != v1alpha1.MaxStatusNamespaces {
		t.Errorf("status.namespaces maxItems: CRD %d, Go %d", got, v1alpha1.MaxStatusNamespaces)
	}
	if got := *status["shadowedBy"].MaxItems; got != v1alpha1.MaxStatusNamespaces {
		t.Errorf("status.shadowedBy maxItems: CRD %d, Go %d", got, v1alpha1.MaxStatusNamespaces)
	}
	if got := *p["actions"].MaxProperties; got != maxActionsEntries {
		t.Errorf("actions maxProperties: CRD %d, Go %d", got, maxActionsEntries)
	}

	// The CEL rule on actions' keys lists exactly image.Classes.
	rules := p["actions"].XValidations
	if len(rules) != 1 {
		t.Fatalf("actions rules = %v", rules)
	}
	_, list, _ := strings.Cut(rules[0].Rule, "[")
	list, _, _ = strings.Cut(list, "]")
	var got []string
	for _, s := range strings.Split(list, ",") {
		got = append(got, strings.Trim(strings.TrimSpace(s), "'"))
	}
	var want []string
	for _, c := range image.Classes {
		want = append(want, string(c))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("classes in the CEL rule (-image.Classes +CRD):\n%s", diff)
	}
}
