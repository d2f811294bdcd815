package policies

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// The same patterns and limits as the markers in v1alpha1 (a test compares
// them with the generated CRD).
const (
	patternGlob       = `^[A-Za-z0-9*][A-Za-z0-9._*:@/-]*$`
	patternPrefix     = `^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._/-]+)?$`
	patternHost       = `^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$`
	maxStringLength   = 255
	maxPatterns       = 256
	maxMirrors        = 32
	maxInsecureHosts  = 64
	maxActionsEntries = 16
	maxPriority       = 1000000
)

var (
	globRE   = regexp.MustCompile(patternGlob)
	prefixRE = regexp.MustCompile(patternPrefix)
	hostRE   = regexp.MustCompile(patternHost)
)

// InvalidPolicyError is returned by Compile and Load for a policy that breaks
// the API's rules; Errs carries every error with its field path.
type InvalidPolicyError struct {
	Name string
	Errs field.ErrorList
}

func (e *InvalidPolicyError) Error() string {
	return fmt.Sprintf("image policy %q is invalid: %v", e.Name, e.Errs.ToAggregate())
}

// Validate checks a defaulted ImagePolicy against the same rules as the CRD
// schema, so that files checked by the CLI fail the way kubectl apply would.
func Validate(obj *v1alpha1.ImagePolicy) field.ErrorList {
	spec := field.NewPath("spec")
	s := &obj.Spec
	var errs field.ErrorList

	errs = append(errs, validateEnum(spec.Child("mode"), s.Mode,
		v1alpha1.ModeEnforce, v1alpha1.ModeAudit)...)
	errs = append(errs, validateEnum(spec.Child("onRegistryError"), s.OnRegistryError,
		v1alpha1.RegistryErrorAllow, v1alpha1.RegistryErrorWarn, v1alpha1.RegistryErrorDeny)...)
	errs = append(errs, validateEnum(spec.Child("pinDigests"), s.PinDigests,
		v1alpha1.PinOff, v1alpha1.PinTagAndDigest, v1alpha1.PinDigest)...)
	errs = append(errs, validateEnum(spec.Child("verify"), s.Verify,
		v1alpha1.VerifyManifests, v1alpha1.VerifyLayers)...)

	if s.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.NamespaceSelector,
			metav1validation.LabelSelectorValidationOptions{}, spec.Child("namespaceSelector"))...)
	}
	if s.Priority < -maxPriority || s.Priority > maxPriority {
		errs = append(errs, field.Invalid(spec.Child("priority"), s.Priority,
			fmt.Sprintf("must be between %d and %d", -maxPriority, maxPriority)))
	}
	errs = append(errs, validateActions(spec.Child("actions"), s.Actions)...)
	errs = append(errs, validateStrings(spec.Child("exemptImages"), s.ExemptImages, maxPatterns, globRE)...)
	errs = append(errs, validateStrings(spec.Child("allowedRegistries"), s.AllowedRegistries, maxPatterns, globRE)...)
	errs = append(errs, validateMirrors(spec.Child("mirrors"), s.Mirrors)...)
	if p := s.PullBudgetWarningPercent; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, field.Invalid(spec.Child("pullBudgetWarningPercent"), *p, "must be from 0 to 100"))
	}
	errs = append(errs, validateStrings(spec.Child("network", "insecureRegistries"),
		s.Network.InsecureRegistries, maxInsecureHosts, hostRE)...)
	return errs
}

func validateEnum[T ~string](path *field.Path, v T, allowed ...T) field.ErrorList {
	if slices.Contains(allowed, v) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return field.ErrorList{field.NotSupported(path, v, names)}
}

func validateActions(path *field.Path, actions map[string]v1alpha1.Action) field.ErrorList {
	var errs field.ErrorList
	if len(actions) > maxActionsEntries {
		errs = append(errs, field.TooMany(path, len(actions), maxActionsEntries))
	}
	classes := make([]string, len(image.Classes))
	for i, c := range image.Classes {
		classes[i] = string(c)
	}
	// Sorted keys give the same errors in the same order every time.
	for _, k := range slices.Sorted(maps.Keys(actions)) {
		if !slices.Contains(classes, k) {
			errs = append(errs, field.NotSupported(path.Key(k), k, classes))
			continue
		}
		errs = append(errs, validateEnum(path.Key(k), actions[k],
			v1alpha1.ActionDeny, v1alpha1.ActionWarn, v1alpha1.ActionAudit)...)
	}
	return errs
}

// validateString applies a pattern type's markers: length, pattern, no scheme.
func validateString[T ~string](path *field.Path, v T, re *regexp.Regexp) field.ErrorList {
	s := string(v)
	switch {
	case s == "":
		return field.ErrorList{field.Required(path, "")}
	case len(s) > maxStringLength:
		return field.ErrorList{field.TooLong(path, s, maxStringLength)}
	case strings.Contains(s, "://"):
		return field.ErrorList{field.Invalid(path, s, "must not contain a URL scheme")}
	case !re.MatchString(s):
		return field.ErrorList{field.Invalid(path, s, "must match "+re.String())}
	}
	return nil
}

func validateStrings[T ~string](path *field.Path, vs []T, maxItems int, re *regexp.Regexp) field.ErrorList {
	var errs field.ErrorList
	if len(vs) > maxItems {
		errs = append(errs, field.TooMany(path, len(vs), maxItems))
	}
	seen := make(map[T]bool, len(vs))
	for i, v := range vs {
		if seen[v] {
			errs = append(errs, field.Duplicate(path.Index(i), v))
			continue
		}
		seen[v] = true
		errs = append(errs, validateString(path.Index(i), v, re)...)
	}
	return errs
}

func validateMirrors(path *field.Path, mirrors []v1alpha1.Mirror) field.ErrorList {
	var errs field.ErrorList
	if len(mirrors) > maxMirrors {
		errs = append(errs, field.TooMany(path, len(mirrors), maxMirrors))
	}
	seen := make(map[v1alpha1.RegistryPrefix]bool, len(mirrors))
	for i, m := range mirrors {
		p := path.Index(i)
		if seen[m.From] {
			errs = append(errs, field.Duplicate(p.Child("from"), m.From))
		}
		seen[m.From] = true
		errs = append(errs, validateString(p.Child("from"), m.From, prefixRE)...)
		errs = append(errs, validateString(p.Child("to"), m.To, prefixRE)...)
		if m.From != "" && m.From == m.To {
			errs = append(errs, field.Invalid(p.Child("to"), m.To, "to must differ from from"))
		}
	}
	return errs
}
