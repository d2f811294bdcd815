package policies

import (
	"errors"
	"fmt"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Load reads one ImagePolicy from YAML or JSON strictly, as the API server's
// strict field validation does: an unknown or duplicated field is an error
// naming its path ("spec.mirrors[0].too"), because a misspelt field would
// otherwise silently fall back to a default. The result is defaulted,
// validated and compiled.
func Load(data []byte) (*Policy, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode image policy: %w", err)
	}
	var obj v1alpha1.ImagePolicy
	strict, err := kjson.UnmarshalStrict(js, &obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("decode image policy: %w", err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("decode image policy: %w", errors.Join(strict...))
	}
	if want := v1alpha1.GroupVersion.String(); obj.APIVersion != want || obj.Kind != v1alpha1.Kind {
		return nil, fmt.Errorf("decode image policy: apiVersion %q kind %q: want apiVersion %q kind %q",
			obj.APIVersion, obj.Kind, want, v1alpha1.Kind)
	}
	return Compile(&obj)
}
