package policies

import (
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// rewrite is the one replacement for a resolved use: the mirror's repository
// when the mirror answered, the digest when the policy pins, or both. The
// repository keeps the form the user wrote ("nginx", not
// "docker.io/library/nginx"); a tag is kept only if one was written,
// which matches image.Reference.Pinned.
func (p *Policy) rewrite(r *Result) (Rewrite, bool) {
	ref, facts := r.Ref, r.Facts
	var reasons []string
	repo := ref.WrittenName()
	if facts.ResolvedRepository != "" && facts.ResolvedRepository != ref.Repository {
		repo = facts.ResolvedRepository
		reasons = append(reasons, ReasonMirror)
	}
	tag := ""
	if ref.TagWritten() {
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
