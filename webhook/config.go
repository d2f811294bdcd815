// Package webhook serves pullguard's admission webhooks on controller-runtime's
// webhook.Server: a mutating endpoint that pins digests, rewrites mirrors and
// adds platform node affinity, and a validating endpoint that denies or warns
// about images that would not pull. This file is the one source of truth for
// the webhooks' names, paths and rules: the server, the end-to-end tests and
// the Helm chart all take them from here.
package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Paths the webhook server serves.
const (
	MutatePath   = "/mutate"
	ValidatePath = "/validate"
)

// Names of the webhooks inside their configurations (they must be
// fully-qualified names) and the default name of the configuration objects.
// A Helm release names its configurations after its Service
// (ReleaseConfigurationName), so two releases, or a release and a manual
// install under the default name, never share a configuration.
const (
	MutatingWebhookName   = "mutate.pullguard.io"
	ValidatingWebhookName = "validate.pullguard.io"
	ConfigurationName     = "pullguard"
	// OptOutLabel on a namespace excludes it from both webhooks.
	OptOutLabel = "pullguard.io/ignore"
)

// DefaultTimeoutSeconds is the webhooks' timeoutSeconds; each request's budget
// is set below it (see DefaultBudget).
const DefaultTimeoutSeconds int32 = 10

// operations are those both webhooks intercept, on Pods and workloads alike:
// DELETE carries no new image.
var operations = []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}

// Rules lists what both webhooks intercept: Pods (and their ephemeral
// containers subresource, which `kubectl debug` uses) and every workload
// kind that carries a pod template.
func Rules() []admissionregistrationv1.RuleWithOperations {
	namespaced := admissionregistrationv1.NamespacedScope
	rule := func(group, version string, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: operations,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{group}, APIVersions: []string{version},
				Resources: resources, Scope: &namespaced,
			},
		}
	}
	return []admissionregistrationv1.RuleWithOperations{
		rule("", "v1", "pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"),
		rule("apps", "v1", "deployments", "statefulsets", "daemonsets", "replicasets"),
		rule("batch", "v1", "jobs", "cronjobs"),
	}
}

// ConfigOptions say where the API server reaches the webhook and how it
// treats it.
type ConfigOptions struct {
	// Name of both configurations; defaults to ConfigurationName.
	Name string
	// URL is the webhook server's base URL (e.g. "https://127.0.0.1:9443"),
	// or empty when Service is set.
	URL string
	// Service is the Service in front of the webhook, or nil when URL is set.
	Service *admissionregistrationv1.ServiceReference
	// CABundle is the PEM CA that signed the serving certificate.
	CABundle []byte
	// TimeoutSeconds defaults to DefaultTimeoutSeconds.
	TimeoutSeconds int32
	// FailurePolicy defaults to Ignore, so an outage of pullguard never
	// blocks deploys.
	FailurePolicy admissionregistrationv1.FailurePolicyType
	// ExcludeNamespaces are never sent to the webhooks (kube-system and the
	// namespace pullguard runs in); namespaces labelled OptOutLabel neither.
	ExcludeNamespaces []string
}

// ReleaseConfigurationName is the name the Helm chart gives both webhook
// configurations of a release whose Service is service in namespace: the
// Service's own DNS name, unique in the cluster because the Service is.
func ReleaseConfigurationName(service, namespace string) string {
	return service + "." + namespace
}

func (o ConfigOptions) name() string {
	if o.Name == "" {
		return ConfigurationName
	}
	return o.Name
}

func (o ConfigOptions) clientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.Service != nil {
		svc := *o.Service
		svc.Path = &path
		cc.Service = &svc
	} else {
		url := o.URL + path
		cc.URL = &url
	}
	return cc
}

func (o ConfigOptions) common() (*int32, *admissionregistrationv1.FailurePolicyType, *admissionregistrationv1.SideEffectClass, *metav1.LabelSelector) {
	timeout := o.TimeoutSeconds
	if timeout == 0 {
		timeout = DefaultTimeoutSeconds
	}
	failure := o.FailurePolicy
	if failure == "" {
		failure = admissionregistrationv1.Ignore
	}
	// Admission has no side effects: dry-run requests get the same answer.
	none := admissionregistrationv1.SideEffectClassNone
	excluded := append([]string{metav1.NamespaceSystem}, o.ExcludeNamespaces...)
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
		{Key: OptOutLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
	}}
	return &timeout, &failure, &none, selector
}

// MutatingConfiguration is the MutatingWebhookConfiguration for o.
func MutatingConfiguration(o ConfigOptions) *admissionregistrationv1.MutatingWebhookConfiguration {
	timeout, failure, sideEffects, selector := o.common()
	// A later mutating webhook may change an image; IfNeeded calls pullguard
	// again, and its mutations are idempotent.
	reinvoke := admissionregistrationv1.IfNeededReinvocationPolicy
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.name()},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    MutatingWebhookName,
			ClientConfig:            o.clientConfig(MutatePath),
			Rules:                   Rules(),
			FailurePolicy:           failure,
			SideEffects:             sideEffects,
			TimeoutSeconds:          timeout,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       selector,
			ReinvocationPolicy:      &reinvoke,
			MatchConditions:         matchConditions(),
		}},
	}
}

// ValidatingConfiguration is the ValidatingWebhookConfiguration for o.
func ValidatingConfiguration(o ConfigOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	timeout, failure, sideEffects, selector := o.common()
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.name()},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    ValidatingWebhookName,
			ClientConfig:            o.clientConfig(ValidatePath),
			Rules:                   Rules(),
			FailurePolicy:           failure,
			SideEffects:             sideEffects,
			TimeoutSeconds:          timeout,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       selector,
			MatchConditions:         matchConditions(),
		}},
	}
}

// matchConditions skip calls the API server can rule out itself: an update
// of an object being deleted (a finalizer removed) carries no new image.
// Status updates never come here, as Rules names no status subresource.
func matchConditions() []admissionregistrationv1.MatchCondition {
	return []admissionregistrationv1.MatchCondition{{
		Name:       "not-being-deleted",
		Expression: `!has(object.metadata.deletionTimestamp)`,
	}}
}
