package policies

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Load reads one ImagePolicy from YAML or JSON, strictly: an unknown or
// duplicated field is an error that names it, because a misspelt field would
// otherwise silently fall back to a default. The result is defaulted,
// validated and compiled.
func Load(data []byte) (*Policy, error) {
	var obj v1alpha1.ImagePolicy
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		return nil, fmt.Errorf("decode image policy: %w", err)
	}
	if want := v1alpha1.GroupVersion.String(); obj.APIVersion != want || obj.Kind != v1alpha1.Kind {
		return nil, fmt.Errorf("decode image policy: apiVersion %q kind %q: want apiVersion %q kind %q",
			obj.APIVersion, obj.Kind, want, v1alpha1.Kind)
	}
	return Compile(&obj)
}
