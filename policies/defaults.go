package policies

import "github.com/pullguard/pullguard/policies/v1alpha1"

// SetDefaults fills what the CRD's default markers fill, so a policy file
// read by the CLI means what the same object means in the cluster.
func SetDefaults(obj *v1alpha1.ImagePolicy) {
	s := &obj.Spec
	if s.Mode == "" {
		s.Mode = v1alpha1.ModeEnforce
	}
	if s.OnRegistryError == "" {
		s.OnRegistryError = v1alpha1.RegistryErrorWarn
	}
	if s.PinDigests == "" {
		s.PinDigests = v1alpha1.PinOff
	}
	if s.Verify == "" {
		s.Verify = v1alpha1.VerifyManifests
	}
	if s.PullBudgetWarningPercent == nil {
		p := int32(v1alpha1.DefaultPullBudgetWarningPercent)
		s.PullBudgetWarningPercent = &p
	}
}
