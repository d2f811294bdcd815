package image

import "errors"

// Class names one reason an image would fail to pull, or a rule it breaks.
// The strings are part of the API: they appear in policies, JSON output and
// metrics labels.
type Class string

// The finding classes of DESIGN.md.
const (
	NotFound           Class = "NotFound"
	Unauthorized       Class = "Unauthorized"
	Forbidden          Class = "Forbidden"
	RateLimited        Class = "RateLimited"
	Unreachable        Class = "Unreachable"
	PlatformMismatch   Class = "PlatformMismatch"
	InvalidReference   Class = "InvalidReference"
	ImplicitLatest     Class = "ImplicitLatest"
	LatestTag          Class = "LatestTag"
	RegistryNotAllowed Class = "RegistryNotAllowed"
	AddressBlocked     Class = "AddressBlocked"
)

// MovedTag is a tag that now resolves to another digest than the running
// pods of a workload run: their next pull (a new node, a scaled replica)
// gets another build. Only background verification sees it (admission has
// no running pods to compare with); it is always a warning, so it is not
// among the Classes a policy configures.
const MovedTag Class = "MovedTag"

// PullBudgetLow is a registry that stated (in rate-limit headers) that
// little of its pull budget is left: the pods' nodes may get 429 Too Many
// Requests. A warning at admission when the policy's
// pullBudgetWarningPercent says so; not among the Classes a policy's
// actions configure.
const PullBudgetLow Class = "PullBudgetLow"

// Classes lists every class, in a stable order (for validation and docs).
var Classes = []Class{
	InvalidReference, ImplicitLatest, LatestTag, NotFound, Unauthorized, Forbidden,
	RateLimited, Unreachable, PlatformMismatch, RegistryNotAllowed, AddressBlocked,
}

// Error is a classified failure: a reference that does not parse, or what
// asking a registry produced. It never carries credentials.
type Error struct {
	Class Class
	// Image is the reference as written.
	Image string
	// Registry is the host that was asked (or would have been).
	Registry string
	// StatusCode is the HTTP status when the registry answered, else 0.
	StatusCode int
	// Reason is a short, human sentence in lower case of what went wrong,
	// e.g. `registry answered 404 MANIFEST_UNKNOWN "manifest unknown"`.
	Reason string
	// Suggestions are up to 3 existing tags nearest to the missing one (NotFound on a tag).
	Suggestions []string
	// Tried are the credentials the lookup tried, in the kubelet's order,
	// with what each got; empty when none matched (an anonymous lookup).
	Tried []Attempt
	// Err is the underlying error, for errors.Is/As.
	Err error
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return string(e.Class) + ": " + e.Image
	}
	return string(e.Class) + ": " + e.Image + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// Attempt is one credential tried for an image, and what it got.
type Attempt struct {
	// Source names the credential ("secret team-a/regcred"), never its content.
	Source string
	// Class and StatusCode (0 without an HTTP answer) are what the lookup
	// with it got. An equal credential tried earlier is not sent again: it
	// shares that answer.
	Class      Class
	StatusCode int
	// Answer says it short: "401 Unauthorized", or the class without an
	// HTTP answer ("unreachable").
	Answer string
}

// ErrCredentialProviderFailed marks a lookup whose registry refused every
// credential tried while a credential provider plugin that matched the
// image gave none: what the nodes would get with the provider's
// credentials is not known (Unreachable).
var ErrCredentialProviderFailed = errors.New("a credential provider plugin failed")

// ErrUnknownAuthority marks a registry whose TLS certificate is signed by a
// CA pullguard does not trust (Unreachable): the fix is a CA, not a network.
var ErrUnknownAuthority = errors.New("registry certificate signed by an unknown authority")

// ErrUnreadablePullSecret marks a pull secret of a supported type whose
// docker config the kubelet cannot decode: it then fails every image pull
// of the pod before asking any registry (Unauthorized, without StatusCode).
var ErrUnreadablePullSecret = errors.New("the kubelet cannot read a pull secret of the pod")
