package resolve

import (
	"fmt"
	"strings"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
)

// withoutFailed splits off the candidates that name a credential provider
// which gave nothing for the image: the kubelet tries what the others
// give, and the failed ones become attempts for the message.
func withoutFailed(cands []keychain.Credential) ([]keychain.Credential, []image.Attempt) {
	var failed []image.Attempt
	kept := cands[:0:0]
	for _, c := range cands {
		if c.Failure == "" {
			kept = append(kept, c)
			continue
		}
		failed = append(failed, image.Attempt{Source: c.Source, Class: image.Unreachable, Answer: "failed: " + c.Failure})
	}
	return kept, failed
}

// providersFailed is e, the lookup's failure, when credential providers
// failed for the image: they are named among the credentials tried, after
// the others (providers come last in the kubelet's order). A refusal is
// then no verdict: the provider's credentials might have pulled on the
// nodes, where it runs under their identity, so the answer is unknown
// (Unreachable, decided by the policy's onRegistryError), never a deny on
// a guess. A NotFound stays: the registry judged the image itself.
func providersFailed(e *image.Error, failed []image.Attempt) *image.Error {
	if len(failed) == 0 {
		return e
	}
	out := *e
	out.Tried = append(append([]image.Attempt(nil), e.Tried...), failed...)
	if e.Class != image.Unauthorized && e.Class != image.Forbidden {
		return &out
	}
	reasons := make([]string, len(failed))
	for i, a := range failed {
		reasons[i] = a.Source + " " + a.Answer
	}
	out.Class = image.Unreachable
	out.StatusCode = 0
	out.Reason = strings.Join(reasons, "; ")
	out.Err = fmt.Errorf("%w: %w", image.ErrCredentialProviderFailed, e)
	return &out
}
