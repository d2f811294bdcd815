package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pullguard/pullguard/internal/manifest"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// checkReport is what `pullguard check` prints; its JSON form is a stable
// interface for CI tooling.
type checkReport struct {
	Findings []jsonFinding `json:"findings"`
	Rewrites []jsonRewrite `json:"rewrites"`
	Summary  checkSummary  `json:"summary"`
}

type jsonFinding struct {
	Source    string `json:"source"`
	Line      int    `json:"line"`
	Object    string `json:"object"`
	Container string `json:"container"`
	Image     string `json:"image"`
	Pointer   string `json:"pointer"`
	Finding   string `json:"finding"`
	Action    string `json:"action"`
	Message   string `json:"message"`
	Fix       string `json:"fix,omitempty"`
}

type jsonRewrite struct {
	Source    string   `json:"source"`
	Line      int      `json:"line"`
	Object    string   `json:"object"`
	Container string   `json:"container"`
	Pointer   string   `json:"pointer"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	Reasons   []string `json:"reasons"`
}

type checkSummary struct {
	Objects  int `json:"objects"`
	Images   int `json:"images"`
	Denied   int `json:"denied"`
	Warnings int `json:"warnings"`
	Audited  int `json:"audited"`
}

func (r *checkReport) add(doc manifest.Document, obj workload.Object, images int, d policies.Decision) {
	r.Summary.Objects++
	r.Summary.Images += images
	for _, f := range d.Findings {
		r.Findings = append(r.Findings, jsonFinding{
			Source: doc.Source, Line: doc.Line, Object: obj.String(),
			Container: f.Container, Image: f.Image, Pointer: f.Pointer,
			Finding: string(f.Class), Action: string(f.Action), Message: f.Message, Fix: f.Fix,
		})
		switch f.Action {
		case policies.Deny:
			r.Summary.Denied++
		case policies.Warn:
			r.Summary.Warnings++
		default:
			r.Summary.Audited++
		}
	}
	for _, rw := range d.Rewrites {
		r.Rewrites = append(r.Rewrites, jsonRewrite{
			Source: doc.Source, Line: doc.Line, Object: obj.String(),
			Container: rw.Container, Pointer: rw.Pointer, From: rw.From, To: rw.To, Reasons: rw.Reasons,
		})
	}
}

func (r *checkReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeText prints one line per finding, readable in a CI log:
//
//	deploy/api.yaml:1: DENY NotFound Deployment/shop/api: container "api": image ... not found ... Fix: ...
func (r *checkReport) writeText(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s:%d: %s %s %s: %s", f.Source, f.Line, strings.ToUpper(f.Action), f.Finding, f.Object, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(&b, " Fix: %s", f.Fix)
		}
		b.WriteByte('\n')
	}
	for _, rw := range r.Rewrites {
		fmt.Fprintf(&b, "%s:%d: REWRITE %s %s: container %q: %q → %q\n",
			rw.Source, rw.Line, strings.Join(rw.Reasons, "+"), rw.Object, rw.Container, rw.From, rw.To)
	}
	s := r.Summary
	fmt.Fprintf(&b, "checked %d %s with %d %s: %d denied, %d %s, %d audited\n",
		s.Objects, plural(s.Objects, "object", "objects"), s.Images, plural(s.Images, "image", "images"),
		s.Denied, s.Warnings, plural(s.Warnings, "warning", "warnings"), s.Audited)
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
