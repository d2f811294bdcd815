package image

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/distribution/reference"
)

// The oracle is the real pull path: the kubelet parses a pod's image with
// reference.ParseNormalizedNamed (k8s.io/kubernetes pkg/util/parsers; a
// failure is InvalidImageName), and containerd's CRI pulls what
// reference.ParseDockerRef names, from the host its resolver takes as the
// name's first component.

// corpus reads testdata/references.txt (go run ./hack/refcorpus).
func corpus(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/references.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			tb.Fatalf("corpus line %q: %v", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// disagreement says how Parse differs from the oracle on s, or "".
func disagreement(s string) string {
	ours, err := Parse(s)
	named, oerr := reference.ParseNormalizedNamed(s)
	pulled, cerr := reference.ParseDockerRef(s)
	switch {
	case (oerr == nil) != (cerr == nil):
		return "the kubelet and containerd disagree: " + errString(oerr) + " vs " + errString(cerr)
	case err != nil && oerr == nil:
		return "pullguard rejects what the kubelet accepts: " + err.Error()
	case err == nil && oerr != nil:
		return "pullguard accepts what the kubelet rejects: " + oerr.Error()
	case err != nil:
		var e *Error
		if !errors.As(err, &e) || e.Class != InvalidReference || e.Image != s || !strings.HasSuffix(e.Reason, "InvalidImageName") {
			return "the error is not a reasoned InvalidReference: " + err.Error()
		}
		return ""
	}
	if ours.Repository != named.Name() {
		return "repository " + ours.Repository + ", the kubelet's " + named.Name()
	}
	host, path, _ := strings.Cut(pulled.Name(), "/")
	if ours.Registry != host || ours.Path != path {
		return "registry/path " + ours.Registry + " " + ours.Path + ", containerd's " + host + " " + path
	}
	want := ours.Repository + ":" + ours.Tag
	if ours.Digest != "" {
		want = ours.Repository + "@" + ours.Digest // the digest wins; containerd drops the tag
	}
	if want != pulled.String() {
		return "pulls " + want + ", containerd pulls " + pulled.String()
	}
	tagged, isTagged := named.(reference.Tagged)
	switch {
	case isTagged && (ours.Tag != tagged.Tag() || !ours.TagWritten()):
		return "tag " + ours.Tag + ", written " + tagged.Tag()
	case !isTagged && ours.TagWritten():
		return "a tag " + ours.Tag + " the user did not write"
	}
	again, err := Parse(ours.String())
	if err != nil {
		return "String() " + ours.String() + " does not parse: " + err.Error()
	}
	again.Original = ours.Original
	if again != ours {
		return "String() " + ours.String() + " parses to another reference"
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "valid"
	}
	return err.Error()
}

func TestParseAgreesWithTheKubelet(t *testing.T) {
	t.Parallel()
	refs := corpus(t)
	if len(refs) < 1000 {
		t.Fatalf("corpus has %d references, want at least 1000", len(refs))
	}
	valid, unexplained := 0, 0
	for _, s := range refs {
		if d := disagreement(s); d != "" {
			t.Errorf("%q: %s", s, d)
		}
		_, err := reference.ParseNormalizedNamed(s)
		if err == nil {
			valid++
		} else if brokenRule(s) == "" {
			unexplained++
		}
	}
	// A corpus of only valid or only invalid references would test half
	// the rule.
	if valid < len(refs)/10 || valid > len(refs)*9/10 {
		t.Errorf("%d of %d references are valid: the corpus lost its balance", valid, len(refs))
	}
	// Reasons fall back to the library's words only where no rule is
	// pinned down; keep that rare.
	if unexplained > len(refs)/20 {
		t.Errorf("%d invalid references have no specific reason", unexplained)
	}
	t.Logf("%d references, %d valid, %d invalid without a specific reason", len(refs), valid, unexplained)
}

func FuzzParse(f *testing.F) {
	for _, s := range corpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := disagreement(s); d != "" {
			t.Fatalf("%q: %s", s, d)
		}
	})
}
