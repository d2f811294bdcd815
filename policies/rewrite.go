package policies

import (
	"strings"

	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// rewrite is the one replacement for a resolved use: the mirror's repository
// when the mirror answered, the digest when the policy pins, or both. The
// repository keeps the form the user wrote ("nginx", not
// "index.docker.io/library/nginx"); a tag is kept only if one was written,
// which matches resolve.Reference.PinnedString.
func (p *Policy) rewrite(r *Result) (Rewrite, bool) {
	ref, facts := r.Ref, r.Facts
	var reasons []string
	repo := writtenRepository(ref)
	if facts.ResolvedRepository != "" && facts.ResolvedRepository != ref.Repository {
		repo = facts.ResolvedRepository
		reasons = append(reasons, ReasonMirror)
	}
	tag := ""
	if tagWritten(ref) {
		tag = ":" + ref.Tag
	}
	digest := ""
	if ref.Digest != "" {
		digest = "@" + ref.Digest
	} else if p.pin != v1alpha1.PinOff && facts.Digest.Hex != "" {
		digest = "@" + facts.Digest.String()
		if p.pin == v1alpha1.PinDigest {
			tag = ""
		}
		reasons = append(reasons, ReasonPinDigest)
	}
	to := repo + tag + digest
	if len(reasons) == 0 || to == r.Use.Image {
		return Rewrite{}, false
	}
	return Rewrite{Pointer: r.Use.Pointer, Container: r.Use.Container, From: r.Use.Image, To: to, Reasons: reasons}, true
}

func tagWritten(ref resolve.Reference) bool {
	return ref.Form == resolve.FormLatest || ref.Form == resolve.FormTag || ref.Form == resolve.FormTagDigest
}

// writtenRepository is the registry and repository as the user wrote them:
// Original without the digest and the written tag.
func writtenRepository(ref resolve.Reference) string {
	if ref.Original == "" {
		return ref.Repository
	}
	s, _, _ := strings.Cut(ref.Original, "@")
	if tagWritten(ref) {
		s = strings.TrimSuffix(s, ":"+ref.Tag)
	}
	return s
}
