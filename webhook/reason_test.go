package webhook

import (
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/metrics"
)

// TestReasons: the reasons are distinct label values that fit the metrics'
// bound, and exactly the skips carry a message of their own.
func TestReasons(t *testing.T) {
	t.Parallel()
	if len(Reasons) > metrics.MaxReasons {
		t.Errorf("%d reasons, but the metrics keep %d", len(Reasons), metrics.MaxReasons)
	}
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if r == "" || seen[r] {
			t.Errorf("reason %q is empty or repeated", r)
		}
		seen[r] = true
		skip := r != Checked && r != Unchecked && r != BadReview
		if msg := r.Message(); skip != (msg != "") || (skip && !strings.HasPrefix(msg, "pullguard: ")) {
			t.Errorf("reason %q: message %q; a skip says why, prefixed pullguard:, and nothing else has one", r, msg)
		}
	}
}
