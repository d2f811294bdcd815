package image

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
