package charts_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// wholeValues are values documented as one: their keys are Kubernetes
// fields or a policy's spec, explained where they are defined.
var wholeValues = []string{"resources", "defaultPolicy.spec"}

var valueKey = regexp.MustCompile(`^( *)([A-Za-z][A-Za-z0-9_]*):`)

// TestEveryValueDocumented: each key of values.yaml has a comment right
// above it (helm-docs' "# --" style, or a plain comment for a group), so
// `helm show values` explains every setting. The schema's
// additionalProperties: false, checked by helm lint, keeps the schema and
// the values' keys the same.
func TestEveryValueDocumented(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		path       []string // keys of the enclosing maps, by depth
		prev       string
		documented int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		m := valueKey.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" {
				prev = line
			}
			continue
		}
		depth := len(m[1]) / 2
		path = append(path[:min(depth, len(path))], m[2])
		key := strings.Join(path, ".")
		inWhole := slices.ContainsFunc(wholeValues, func(w string) bool { return strings.HasPrefix(key, w+".") })
		if !inWhole && !strings.HasPrefix(strings.TrimSpace(prev), "#") {
			t.Errorf("values.yaml:%d: %s has no comment above it", n, key)
		}
		documented++
		prev = line
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if documented < 50 {
		t.Errorf("read %d keys from values.yaml; the test's reader is broken", documented)
	}
}
