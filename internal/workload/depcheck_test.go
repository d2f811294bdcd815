package workload

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the core free of the front doors and of registry code:
// workload may import the standard library and the Kubernetes API types only
// (DESIGN.md, "Packages").
func TestImports(t *testing.T) {
	t.Parallel()
	allowed := []string{"k8s.io/api/", "k8s.io/apimachinery/"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if isStandard(path) || hasAnyPrefix(path, allowed) {
				continue
			}
			t.Errorf("%s imports %q; workload may import only the standard library and %v", name, path, allowed)
		}
	}
}

// isStandard is true for standard library paths, whose first element has no dot.
func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
