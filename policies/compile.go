package policies

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Compile defaults and validates an ImagePolicy (without modifying it) and
// precompiles its globs and selector. An invalid policy gives an
// *InvalidPolicyError listing every field error.
func Compile(obj *v1alpha1.ImagePolicy) (*Policy, error) {
	if obj == nil {
		return nil, fmt.Errorf("compile image policy: no policy given")
	}
	obj = obj.DeepCopy()
	SetDefaults(obj)
	if errs := Validate(obj); len(errs) > 0 {
		return nil, &InvalidPolicyError{Name: obj.Name, Errs: errs}
	}
	s := &obj.Spec
	spec := field.NewPath("spec")
	var errs field.ErrorList

	p := &Policy{
		name:     obj.Name,
		priority: s.Priority,
		selective: s.NamespaceSelector != nil &&
			(len(s.NamespaceSelector.MatchLabels) > 0 || len(s.NamespaceSelector.MatchExpressions) > 0),
		mode:     s.Mode,
		actions:  builtInActions(),
		pin:      s.PinDigests,
		mutate:   s.MutateWorkloads,
		affinity: s.PlatformAffinity,
		depth:    image.VerifyManifests,
		network:  *s.Network.DeepCopy(),
		budget:   int(*s.PullBudgetWarningPercent),
	}
	if s.Verify == v1alpha1.VerifyLayers {
		p.depth = image.VerifyLayers
	}
	// onRegistryError is a shorthand; an explicit actions entry wins.
	onErr := registryErrorAction(s.OnRegistryError)
	p.actions[image.RateLimited] = onErr
	p.actions[image.Unreachable] = onErr
	for k, a := range s.Actions {
		p.actions[image.Class(k)] = a
	}

	p.selector = labels.Everything()
	if s.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(s.NamespaceSelector)
		if err != nil {
			errs = append(errs, field.Invalid(spec.Child("namespaceSelector"), s.NamespaceSelector, err.Error()))
		} else {
			p.selector = sel
		}
	}
	p.exempt, errs = compileGlobs(spec.Child("exemptImages"), s.ExemptImages, errs)
	p.allowed, errs = compileGlobs(spec.Child("allowedRegistries"), s.AllowedRegistries, errs)
	allowed := make([]string, len(s.AllowedRegistries))
	for i, a := range s.AllowedRegistries {
		allowed[i] = string(a)
	}
	p.allowedText = strings.Join(allowed, ", ")
	for _, m := range s.Mirrors {
		p.mirrors = append(p.mirrors, image.Mirror{
			From: string(m.From), To: string(m.To), FallbackToSource: m.FallbackToSource,
		})
	}
	if len(errs) > 0 {
		return nil, &InvalidPolicyError{Name: obj.Name, Errs: errs}
	}
	return p, nil
}

func registryErrorAction(a v1alpha1.RegistryErrorAction) Action {
	switch a {
	case v1alpha1.RegistryErrorDeny:
		return Deny
	case v1alpha1.RegistryErrorAllow:
		return Audit
	default:
		return Warn
	}
}

func compileGlobs[T ~string](path *field.Path, patterns []T, errs field.ErrorList) ([]*regexp.Regexp, field.ErrorList) {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for i, pat := range patterns {
		re, err := compileGlob(string(pat))
		if err != nil {
			errs = append(errs, field.Invalid(path.Index(i), pat, err.Error()))
			continue
		}
		out = append(out, re)
	}
	return out, errs
}
