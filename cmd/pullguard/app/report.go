package app

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/pullguard/pullguard/internal/image"
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
	// Uses are every image use checked, for formats that list them all
	// (JUnit's one test case each).
	Uses []checkedUse `json:"-"`
}

type checkedUse struct {
	Source, Object, Container, Image, Pointer string
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
	// Unverified counts image uses whose registry could not be asked
	// (Unreachable, RateLimited): an offline run must not read as a clean one.
	Unverified int `json:"unverified"`
}

func (r *checkReport) add(doc manifest.Document, obj workload.Object, uses []workload.ImageUse, d policies.Decision) {
	r.Summary.Objects++
	r.Summary.Images += len(uses)
	for _, u := range uses {
		r.Uses = append(r.Uses, checkedUse{Source: doc.Source, Object: obj.String(), Container: u.Container, Image: u.Image, Pointer: u.Pointer})
	}
	for _, f := range d.Findings {
		r.Findings = append(r.Findings, jsonFinding{
			Source: doc.Source, Line: doc.LineOf(f.Pointer), Object: obj.String(),
			Container: f.Container, Image: f.Image, Pointer: f.Pointer,
			Finding: string(f.Class), Action: string(f.Action), Message: f.Message, Fix: f.Fix,
		})
		if f.Class == image.Unreachable || f.Class == image.RateLimited {
			r.Summary.Unverified++
		}
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
			Source: doc.Source, Line: doc.LineOf(rw.Pointer), Object: obj.String(),
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
	fmt.Fprintf(&b, "%s\n", s)
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// String is the one-line summary every text format ends with.
func (s checkSummary) String() string {
	line := fmt.Sprintf("checked %d %s with %d %s: %d denied, %d %s, %d audited",
		s.Objects, plural(s.Objects, "object", "objects"), s.Images, plural(s.Images, "image", "images"),
		s.Denied, s.Warnings, plural(s.Warnings, "warning", "warnings"), s.Audited)
	if s.Unverified > 0 {
		line += fmt.Sprintf("; %d %s not verified (registry unreachable or rate-limited)", s.Unverified, plural(s.Unverified, "image", "images"))
	}
	return line
}

// level names the finding's action in a format's words for deny, warn and
// audit.
func (f jsonFinding) level(deny, warn, audit string) string {
	switch f.Action {
	case string(policies.Deny):
		return deny
	case string(policies.Warn):
		return warn
	}
	return audit
}

// text is the message and its fix, for formats with one text field.
func (f jsonFinding) text() string {
	if f.Fix == "" {
		return f.Message
	}
	return f.Message + " Fix: " + f.Fix
}

// writeGitHub prints GitHub Actions workflow commands, so each finding is
// an annotation on the line of its image field; the summary is a notice.
func (r *checkReport) writeGitHub(w io.Writer) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "::%s file=%s,line=%d,title=%s::%s\n", f.level("error", "warning", "notice"),
			ghProperty(f.Source), f.Line, ghProperty("pullguard "+f.Finding), ghData(f.text()))
	}
	fmt.Fprintf(&b, "::notice title=pullguard::%s\n", ghData(r.Summary.String()))
	_, err := io.WriteString(w, b.String())
	return err
}

// ghData and ghProperty escape as GitHub's workflow commands require.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// writeSARIF writes a SARIF 2.1.0 log (for code scanning): one rule per
// finding class, one result per finding, at the image field's line.
func (r *checkReport) writeSARIF(w io.Writer) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	run := sarif.NewRunWithInformationURI("pullguard", "https://github.com/pullguard/pullguard")
	run.Tool.Driver.WithVersion(version)
	for _, c := range image.Classes {
		run.AddRule(string(c)).WithShortDescription(sarif.NewMultiformatMessageString(string(c)))
	}
	for _, f := range r.Findings {
		res := run.CreateResultForRule(f.Finding).WithLevel(f.level("error", "warning", "note")).WithMessage(sarif.NewTextMessage(f.text()))
		res.AddLocation(sarif.NewLocationWithPhysicalLocation(sarif.NewPhysicalLocation().
			WithArtifactLocation(sarif.NewSimpleArtifactLocation(f.Source)).
			WithRegion(sarif.NewSimpleRegion(f.Line, f.Line))))
	}
	log.AddRun(run)
	return log.PrettyWrite(w)
}

// JUnit XML, as CI systems read it: one test case per image use of each
// object, failed when denied.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func (r *checkReport) writeJUnit(w io.Writer) error {
	suite := junitSuite{Name: "pullguard check"}
	for _, u := range r.Uses {
		c := junitCase{Name: fmt.Sprintf("%s container %q image %q", u.Object, u.Container, u.Image), ClassName: u.Source}
		for _, f := range r.Findings {
			if f.Object != u.Object || f.Pointer != u.Pointer {
				continue
			}
			line := fmt.Sprintf("%s:%d: %s %s: %s", f.Source, f.Line, strings.ToUpper(f.Action), f.Finding, f.Message)
			if f.Action == string(policies.Deny) && c.Failure == nil {
				c.Failure = &junitMessage{Message: f.Message, Type: f.Finding, Text: line + " Fix: " + f.Fix}
				continue
			}
			c.SystemOut += line + "\n"
		}
		if c.Failure != nil {
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{suite}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
