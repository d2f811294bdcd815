package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The schema markers below and the Go validation in package policies enforce
// the same rules, because `pullguard check` loads policy files without an API
// server. policies' tests compare the two where they share a literal.

// Mode says whether a policy's Deny actions reject.
// +kubebuilder:validation:Enum=Enforce;Audit
type Mode string

const (
	// ModeEnforce rejects what a Deny action matches.
	ModeEnforce Mode = "Enforce"
	// ModeAudit allows everything but records every finding; Deny becomes Audit.
	ModeAudit Mode = "Audit"
)

// Action is what a finding does to the request, named like
// ValidatingAdmissionPolicy's validation actions.
// +kubebuilder:validation:Enum=Deny;Warn;Audit
type Action string

const (
	// ActionDeny rejects the request (in Enforce mode).
	ActionDeny Action = "Deny"
	// ActionWarn allows it with a warning shown by kubectl.
	ActionWarn Action = "Warn"
	// ActionAudit allows it silently and records the finding (audit annotation, metrics).
	ActionAudit Action = "Audit"
)

// RegistryErrorAction is the shorthand action for failures that are the
// registry's, not the image's: RateLimited and Unreachable.
// +kubebuilder:validation:Enum=Allow;Warn;Deny
type RegistryErrorAction string

const (
	// RegistryErrorAllow allows and records (the same as Audit).
	RegistryErrorAllow RegistryErrorAction = "Allow"
	// RegistryErrorWarn allows with a warning.
	RegistryErrorWarn RegistryErrorAction = "Warn"
	// RegistryErrorDeny rejects (fail closed).
	RegistryErrorDeny RegistryErrorAction = "Deny"
)

// PinDigests says how resolved references are rewritten to digests.
// +kubebuilder:validation:Enum=Off;TagAndDigest;Digest
type PinDigests string

const (
	// PinOff never rewrites a reference to a digest.
	PinOff PinDigests = "Off"
	// PinTagAndDigest rewrites "repo:tag" to "repo:tag@sha256:…" (readable, and the digest wins).
	PinTagAndDigest PinDigests = "TagAndDigest"
	// PinDigest rewrites "repo:tag" to "repo@sha256:…".
	PinDigest PinDigests = "Digest"
)

// Verify says how much of an image pullguard makes sure its registry has.
// +kubebuilder:validation:Enum=Manifests;Layers
type Verify string

const (
	// VerifyManifests fetches the manifest a node of each platform the pod
	// can land on would pull (by digest, cached), which must exist and parse.
	VerifyManifests Verify = "Manifests"
	// VerifyLayers also asks the registry for the config and every layer of
	// those manifests (HEAD, which Docker Hub does not count as a pull).
	VerifyLayers Verify = "Layers"
)

// ImagePattern is a glob on a fully qualified image reference or repository,
// where "*" matches any run of characters, "/" included
// ("registry.k8s.io/*", "ghcr.io/acme/api:*"). "docker.io" also matches
// images of Docker Hub written without a registry.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=255
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9*][A-Za-z0-9._*:@/-]*$`
// +kubebuilder:validation:XValidation:rule="!self.contains('://')",message="must not contain a URL scheme"
type ImagePattern string

// RegistryPattern is a glob on a registry host ("ghcr.io", "*.example.com",
// "registry.local:5000") or on a repository prefix ("ghcr.io/acme/*").
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=255
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9*][A-Za-z0-9._*:@/-]*$`
// +kubebuilder:validation:XValidation:rule="!self.contains('://')",message="must not contain a URL scheme"
type RegistryPattern string

// RegistryPrefix is a registry host, optionally followed by a repository
// path: "docker.io", "mirror.example.com/dockerhub".
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=255
// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._/-]+)?$`
type RegistryPrefix string

// Host is a registry host with an optional port: "registry.local:5000".
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=255
// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$`
type Host string

// Mirror resolves (and, when mutation is on, rewrites) images of one
// registry or repository prefix through another.
// +kubebuilder:validation:XValidation:rule="self.to != self.from",message="to must differ from from"
type Mirror struct {
	// From is the registry host or repository prefix the images name, e.g. "docker.io".
	// +required
	From RegistryPrefix `json:"from"`
	// To is the mirror's prefix, e.g. "mirror.example.com/dockerhub".
	// +required
	To RegistryPrefix `json:"to"`
	// FallbackToSource asks From too when the mirror fails with anything but
	// a confirmed NotFound.
	// +optional
	FallbackToSource bool `json:"fallbackToSource,omitempty"`
}

// Network is what the address guard allows when dialling registries.
type Network struct {
	// AllowLoopback allows registries on loopback addresses (127.0.0.0/8, ::1).
	// +optional
	AllowLoopback bool `json:"allowLoopback,omitempty"`
	// AllowPrivate allows registries on private addresses (RFC 1918, RFC 4193).
	// Link-local and cloud metadata addresses are never allowed.
	// +optional
	AllowPrivate bool `json:"allowPrivate,omitempty"`
	// InsecureRegistries are hosts reached over plain HTTP or with TLS
	// verification off, as the nodes' container runtime is configured.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	InsecureRegistries []Host `json:"insecureRegistries,omitempty"`
}

// ImagePolicySpec is what pullguard checks and what it does with findings.
type ImagePolicySpec struct {
	// Mode Enforce rejects on Deny; Audit allows everything and records every finding.
	// +kubebuilder:default=Enforce
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// NamespaceSelector chooses the namespaces the policy applies to; empty
	// or absent means all.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Priority decides which policy applies when several select a
	// namespace: the highest priority wins; at equal priority a policy with
	// a namespaceSelector wins over one that selects every namespace, then
	// the first by name. Policies are never merged. The status of each
	// policy says where it is in use and which policy shadows it.
	// +kubebuilder:validation:Minimum=-1000000
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	Priority int32 `json:"priority,omitempty"`

	// Actions maps a finding class (as it appears in warnings and metrics,
	// e.g. "LatestTag") to Deny, Warn or Audit. Classes not listed keep the
	// built-in action; an entry here wins over onRegistryError.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['InvalidReference', 'ImplicitLatest', 'LatestTag', 'NotFound', 'Unauthorized', 'Forbidden', 'RateLimited', 'Unreachable', 'PlatformMismatch', 'RegistryNotAllowed', 'AddressBlocked'])",message="actions keys must be finding classes: InvalidReference, ImplicitLatest, LatestTag, NotFound, Unauthorized, Forbidden, RateLimited, Unreachable, PlatformMismatch, RegistryNotAllowed, AddressBlocked"
	Actions map[string]Action `json:"actions,omitempty"`

	// OnRegistryError is the action for RateLimited and Unreachable unless
	// actions names them: Allow (recorded only), Warn, or Deny (fail closed).
	// +kubebuilder:default=Warn
	// +optional
	OnRegistryError RegistryErrorAction `json:"onRegistryError,omitempty"`

	// ExemptImages are not checked at all.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	ExemptImages []ImagePattern `json:"exemptImages,omitempty"`

	// AllowedRegistries, when not empty, are the only registries images may
	// come from; others are RegistryNotAllowed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	AllowedRegistries []RegistryPattern `json:"allowedRegistries,omitempty"`

	// PinDigests rewrites resolved tags to digests. References that carry a
	// digest are left as written.
	// +kubebuilder:default=Off
	// +optional
	PinDigests PinDigests `json:"pinDigests,omitempty"`

	// MutateWorkloads rewrites workload pod templates too. Pods are always
	// rewritable; templates are not by default because GitOps tools would
	// see the change as drift.
	// +optional
	MutateWorkloads bool `json:"mutateWorkloads,omitempty"`

	// Mirrors resolve images through other registries.
	// +optional
	// +listType=map
	// +listMapKey=from
	// +kubebuilder:validation:MaxItems=32
	Mirrors []Mirror `json:"mirrors,omitempty"`

	// Verify is how much of each image pullguard makes sure the registry
	// really has: Manifests (the manifest each node would pull) or Layers
	// (and every blob it names). An index can name content the registry
	// lost, and the pull then fails although the tag resolves.
	// +kubebuilder:default=Manifests
	// +optional
	Verify Verify `json:"verify,omitempty"`

	// PlatformAffinity, when an image runs on only some of the platforms the
	// pod could land on, restricts the pod with node affinity instead of warning.
	// +optional
	PlatformAffinity bool `json:"platformAffinity,omitempty"`

	// Network is what the address guard allows.
	// +optional
	Network Network `json:"network,omitempty"`

	// PullBudgetWarningPercent warns at admission (finding PullBudgetLow)
	// when an image's registry last stated (ratelimit-remaining, as Docker
	// Hub sends it) less than this percentage of its pull budget left for
	// the credential kind the pods pull with: their nodes may get 429 Too
	// Many Requests. 0 turns the warning off.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	PullBudgetWarningPercent *int32 `json:"pullBudgetWarningPercent,omitempty"`
}

// DefaultPullBudgetWarningPercent is PullBudgetWarningPercent's default.
const DefaultPullBudgetWarningPercent = 10

// Condition types and reasons of ImagePolicy status.
const (
	// ConditionReady is True when the policy compiled (is valid).
	ConditionReady = "Ready"
	// ReasonValid is the Ready=True reason.
	ReasonValid = "Valid"
	// ReasonInvalid is the Ready=False reason (and InUse=False's for an
	// invalid policy); the message holds the field errors.
	ReasonInvalid = "Invalid"

	// ConditionInUse is True when the policy decides at least one namespace.
	ConditionInUse = "InUse"
	// ReasonApplies is the InUse=True reason; the message names the namespaces.
	ReasonApplies = "Applies"
	// ReasonNoNamespaces is the InUse=False reason when the policy's
	// namespaceSelector selects no namespace.
	ReasonNoNamespaces = "NoNamespaces"

	// ConditionShadowed is True when another policy decides some namespace
	// this one selects.
	ConditionShadowed = "Shadowed"
	// ReasonShadowedBy is the Shadowed=True reason (and InUse=False's when
	// every namespace it selects is decided by another policy); the
	// message names the policies and namespaces.
	ReasonShadowedBy = "ShadowedBy"
	// ReasonNotShadowed is the Shadowed=False reason.
	ReasonNotShadowed = "NotShadowed"
)

// MaxStatusNamespaces bounds the namespaces listed in status; the counts
// are exact.
const MaxStatusNamespaces = 20

// ImagePolicyStatus is what pullguard observed about the policy.
type ImagePolicyStatus struct {
	// Conditions: Ready (the policy is valid), InUse (it decides at least
	// one namespace) and Shadowed (another policy decides some namespace it
	// selects).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// NamespaceCount is the number of namespaces the policy decides.
	// +optional
	NamespaceCount int32 `json:"namespaceCount,omitempty"`

	// Namespaces are the first (by name) of the namespaces the policy decides.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Namespaces []string `json:"namespaces,omitempty"`

	// ShadowedBy are the policies that decide namespaces this one selects,
	// each with how many.
	// +optional
	// +listType=map
	// +listMapKey=policy
	// +kubebuilder:validation:MaxItems=20
	ShadowedBy []Shadowing `json:"shadowedBy,omitempty"`
}

// Shadowing is a policy that wins over this one in some namespaces.
type Shadowing struct {
	// Policy is the name of the policy that decides those namespaces.
	Policy string `json:"policy"`
	// NamespaceCount is how many namespaces it takes from this policy.
	NamespaceCount int32 `json:"namespaceCount"`
}

// ImagePolicy tells pullguard how to treat the images workloads name.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ipol,categories=pullguard
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="PinDigests",type=string,JSONPath=`.spec.pinDigests`
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="InUse",type=string,JSONPath=`.status.conditions[?(@.type=="InUse")].status`
// +kubebuilder:printcolumn:name="Namespaces",type=integer,JSONPath=`.status.namespaceCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImagePolicySpec `json:"spec,omitempty"`
	// +optional
	Status ImagePolicyStatus `json:"status,omitempty"`
}

// ImagePolicyList is a list of ImagePolicy.
// +kubebuilder:object:root=true
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}
