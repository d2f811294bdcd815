package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/text"
	"github.com/pullguard/pullguard/policies"
)

// AuditAnnotationKey is the audit annotation the validating endpoint sets
// for Audit findings. The API server prefixes it with the webhook's name, so
// audit events carry "validate.pullguard.io/findings" (a key with its own
// "/" would not be a valid annotation key once prefixed, and be dropped).
const AuditAnnotationKey = "findings"

// Bounds on what one response carries: kubectl prints every warning, and
// the API server keeps audit annotations in every audit event.
const (
	maxWarnings        = 16
	maxDeniedLines     = 32
	maxAuditAnnotation = 4096
	maxAuditImage      = 200
)

// validation is the validating endpoint's answer to a checked request: the
// decision's denial, warnings and audit annotation. A dry run gets exactly
// this answer too: nothing here has side effects.
func (h *Handlers) validation(ctx context.Context, c *checked) *reply {
	if h.recorder != nil {
		for _, f := range c.decision.Findings {
			h.recorder.Finding(f.Class, f.Action)
		}
	}
	logFindings(ctx, c)
	resp := admission.Allowed("")
	if !c.decision.Allowed {
		resp = admission.Denied(denial(c))
	}
	resp.Warnings = warnings(c.decision.Findings)
	if a := auditAnnotation(c.policy, c.decision.Findings); a != "" {
		resp.AuditAnnotations = map[string]string{AuditAnnotationKey: a}
	}
	return &reply{Response: resp, reason: Checked}
}

// logFindings writes one info line per finding, whatever its action: what
// a platform team rolling out in Audit mode reads to see what would be
// denied. Only the validating endpoint logs, so each finding is logged once;
// the request's own fields (uid, user, resource) come with the logger
// controller-runtime puts in ctx. Messages carry no credentials.
func logFindings(ctx context.Context, c *checked) {
	if len(c.decision.Findings) == 0 {
		return
	}
	log := logf.FromContext(ctx)
	for _, f := range c.decision.Findings {
		log.Info("image finding", "object", c.obj.String(), "container", f.Container, "image", f.Image,
			"class", string(f.Class), "action", string(f.Action), "policy", c.policy.Name())
	}
}

// denial is the message kubectl prints after "admission webhook ... denied
// the request: ": a heading, then one line per denied image use with its
// class, what is wrong and the fix.
func denial(c *checked) string {
	var lines []string
	for _, f := range c.decision.Findings {
		if f.Action == policies.Deny {
			lines = append(lines, fmt.Sprintf("- [%s] %s; fix: %s", f.Class, f.Message, f.Fix))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "image policy %q denies %s of %s:", c.policy.Name(), plural(len(lines), "image use"), c.obj)
	for i, l := range lines {
		if i == maxDeniedLines {
			fmt.Fprintf(&b, "\n- … and %d more", len(lines)-i)
			break
		}
		b.WriteString("\n")
		b.WriteString(l)
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// warnings are the Warn findings, one line each (Finding.Short), without
// repeats; past maxWarnings lines the last one counts the rest.
func warnings(findings []policies.Finding) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range findings {
		if s := f.Short(); f.Action == policies.Warn && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) > maxWarnings {
		more := len(out) - (maxWarnings - 1)
		out = append(out[:maxWarnings-1], fmt.Sprintf("pullguard: %d more image warnings; pullguard check lists them all", more))
	}
	return out
}

// auditEntry is one Audit finding in the audit annotation.
type auditEntry struct {
	Container string `json:"container"`
	Image     string `json:"image"`
	Class     string `json:"class"`
}

// auditRecord is the audit annotation's value: compact JSON, at most
// maxAuditAnnotation bytes; what does not fit is counted in Omitted.
type auditRecord struct {
	Policy   string       `json:"policy"`
	Findings []auditEntry `json:"findings"`
	Omitted  int          `json:"omitted,omitempty"`
}

// auditAnnotation records the Audit findings (in Audit mode also what
// would have been denied), or "" when there are none.
func auditAnnotation(p *policies.Policy, findings []policies.Finding) string {
	rec := auditRecord{Policy: text.Truncate(p.Name(), maxAuditImage)}
	// Room for the policy, the brackets and the omitted count.
	size := 64 + len(rec.Policy)
	for _, f := range findings {
		if f.Action != policies.Audit {
			continue
		}
		e := auditEntry{Container: f.Container, Image: text.Truncate(f.Image, maxAuditImage), Class: string(f.Class)}
		b, err := json.Marshal(e)
		if err != nil || rec.Omitted > 0 || size+len(b)+1 > maxAuditAnnotation {
			rec.Omitted++
			continue
		}
		size += len(b) + 1
		rec.Findings = append(rec.Findings, e)
	}
	if len(rec.Findings) == 0 && rec.Omitted == 0 {
		return ""
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return ""
	}
	return string(b)
}

// unchecked answers when pullguard itself failed (its cluster view, a
// bug): the request is allowed, as failurePolicy Ignore allows it when
// pullguard is down, and the validating endpoint says so in a warning so
// nobody mistakes it for a pass.
func unchecked(ctx context.Context, endpoint string, err error) *reply {
	logf.FromContext(ctx).Error(err, "images not checked", "endpoint", endpoint)
	resp := admission.Allowed("")
	if endpoint == EndpointValidate {
		resp.Warnings = []string{text.Truncate("pullguard could not check the images: "+err.Error(), policies.MaxShortLength)}
	}
	return &reply{Response: resp, reason: Unchecked}
}
