package policies

import (
	"fmt"
	"unicode/utf8"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/text"
)

// Finding is one problem with one image use.
type Finding struct {
	// Object is "Kind/namespace/name"; Pointer is the JSON pointer of the image field.
	Object, Container, Image, Pointer string
	Class                             image.Class
	Action                            Action
	// Message is one sentence for the person at kubectl: which container,
	// which image, what the registry answered.
	Message string
	// Fix says what to do about it.
	Fix string
	// Summary, when set, replaces the class's few words in Short: a finding
	// whose class alone would mislead (imagePullPolicy Never is a NotFound
	// on the nodes, not in the registry).
	Summary string
}

// MaxShortLength is the most characters Short returns: one kubectl warning line.
const MaxShortLength = 119

// WarningPrefix starts every warning line, so a developer reading kubectl's
// "Warning:" lines knows which webhook said it.
const WarningPrefix = "pullguard: "

// shortText is the few words per class that fit in a warning line.
var shortText = map[image.Class]string{
	image.InvalidReference:   "not a valid image reference",
	image.ImplicitLatest:     "no tag, pulls :latest; name a tag or digest",
	image.LatestTag:          "mutable :latest; name a version tag or digest",
	image.NotFound:           "not found in the registry; use an existing tag",
	image.Unauthorized:       "registry wants credentials; add an imagePullSecret",
	image.Forbidden:          "pull secret lacks access to this repository",
	image.RateLimited:        "registry rate limit; add a pull secret or a mirror",
	image.Unreachable:        "registry unreachable from pullguard",
	image.PlatformMismatch:   "no build for some platform the pod may run on",
	image.RegistryNotAllowed: "registry not allowed by the image policy",
	image.AddressBlocked:     "registry address is blocked",
	image.PullBudgetLow:      "registry pull budget nearly spent; use a mirror",
}

// Short is the finding in one line of at most MaxShortLength characters, for
// admission warnings: WarningPrefix, container, image (shortened in the
// middle if need be) and a few words on what is wrong and what to do.
func (f Finding) Short() string {
	words, ok := shortText[f.Class]
	switch {
	case f.Summary != "":
		words = f.Summary
	case !ok:
		words = string(f.Class)
	}
	line := func(img string) string {
		return fmt.Sprintf("%scontainer %q: image %q: %s", WarningPrefix, f.Container, img, words)
	}
	s := line(f.Image)
	if n := utf8.RuneCountInString(s); n > MaxShortLength {
		keep := utf8.RuneCountInString(f.Image) - (n - MaxShortLength) - 1
		if keep >= 16 {
			s = line(elide(f.Image, keep))
		}
	}
	return text.Truncate(s, MaxShortLength)
}

// elide keeps the start and the end (tag or digest) of s in keep runes plus "…".
func elide(s string, keep int) string {
	r := []rune(s)
	if len(r) <= keep {
		return s
	}
	head := keep / 2
	return string(r[:head]) + "…" + string(r[len(r)-(keep-head):])
}
