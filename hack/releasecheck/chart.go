package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// chartRelease is what set-chart writes into a copy of the chart.
type chartRelease struct {
	dir, version, repository, tag, digest string
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// Lines set-chart rewrites; each must occur exactly once, so a change to
// the chart's layout fails here instead of shipping the source defaults.
var (
	chartVersionLine = regexp.MustCompile(`(?m)^version: .*$`)
	appVersionLine   = regexp.MustCompile(`(?m)^appVersion: .*$`)
	repositoryLine   = regexp.MustCompile(`(?m)^  repository: .*$`)
	tagLine          = regexp.MustCompile(`(?m)^  tag: .*$`)
	// digestSlot is the comment in the image block where a release's
	// digest goes (the source chart has none).
	digestSlot = regexp.MustCompile(`(?m)^  # digest: set by make release$`)
)

func setChart(o chartRelease) error {
	if o.dir == "" || o.version == "" || o.repository == "" || o.tag == "" {
		return errors.New("set-chart: --dir, --version, --repository, --tag and --digest are required")
	}
	if !digestPattern.MatchString(o.digest) {
		return fmt.Errorf("set-chart: --digest %q is not sha256:<64 hex>", o.digest)
	}
	if err := rewrite(filepath.Join(o.dir, "Chart.yaml"),
		edit{chartVersionLine, "version: " + o.version},
		edit{appVersionLine, "appVersion: " + strconv.Quote(o.version)}); err != nil {
		return err
	}
	return rewrite(filepath.Join(o.dir, "values.yaml"),
		edit{repositoryLine, "  repository: " + o.repository},
		edit{tagLine, "  tag: " + o.tag},
		edit{digestSlot, "  digest: " + o.digest})
}

type edit struct {
	line *regexp.Regexp
	with string
}

func rewrite(path string, edits ...edit) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, e := range edits {
		if n := len(e.line.FindAllIndex(data, -1)); n != 1 {
			return fmt.Errorf("%s: %d lines match %s, want 1", path, n, e.line)
		}
		data = e.line.ReplaceAllLiteral(data, []byte(e.with))
	}
	return os.WriteFile(path, data, 0o644)
}
