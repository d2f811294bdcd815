package internal_test

import (
	"go/build"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/pullguard/pullguard/"

// allowed lists, for each package of the module, the module packages it may
// import directly. Layers point down: the core (workload, resolve, policies)
// never reaches the front doors (webhook, cmd) or the cluster view. A package
// missing from this table fails the test, so a new package must take a place.
var allowed = map[string][]string{
	"internal/text":               {},
	"internal/image":              {"internal/text"},
	"internal/diagnose":           {"internal/image"},
	"internal/workload":           {},
	"internal/manifest":           {},
	"internal/cache":              {},
	"internal/addressguard":       {"internal/image"},
	"internal/keychain":           {"internal/image"},
	"internal/fixtures":           {},
	"internal/credentialprovider": {"internal/cache", "internal/keychain", "internal/text"},
	"internal/nodehosts":          {"internal/addressguard", "internal/image"},
	"internal/registrytest":       {"internal/fixtures"},
	"internal/resolve":            {"internal/image", "internal/cache", "internal/addressguard", "internal/keychain", "internal/text"},
	"policies/v1alpha1":           {},
	"policies":                    {"policies/v1alpha1", "internal/image", "internal/workload", "internal/text"},
	"internal/decide":             {"internal/image", "internal/resolve", "internal/workload", "policies"},
	"internal/cluster": {
		"internal/image", "internal/keychain", "internal/resolve", "internal/workload", "policies", "policies/v1alpha1",
	},
	"webhook":                   {"internal/decide", "internal/image", "internal/resolve", "internal/workload", "policies", "policies/v1alpha1"},
	"internal/background":       {"internal/cache", "internal/decide", "internal/image", "internal/resolve", "internal/workload", "policies", "policies/v1alpha1"},
	"internal/metrics":          {"internal/addressguard", "internal/image", "internal/resolve", "policies"},
	"internal/policystatus":     {"policies", "policies/v1alpha1"},
	"certs":                     {},
	"cmd/pullguard":             {"cmd/pullguard/app"},
	"examples/demo":             {"examples/demo/walkthrough", "test/bed"},
	"examples/demo/walkthrough": {"test/bed"},
	"test/e2e":                  {}, // only tests (tag e2e) and a doc.go
	"test/bed":                  {"certs", "internal/fixtures", "policies/v1alpha1", "webhook"},
	"hack/baseimage":            {},
	"hack/refcorpus":            {},
	"hack/pause":                {},
	"hack/releasecheck":         {},
	"cmd/pullguard/app": {
		"certs",
		"internal/addressguard", "internal/background", "internal/cluster", "internal/credentialprovider", "internal/decide", "internal/diagnose", "internal/image", "internal/keychain",
		"internal/manifest", "internal/metrics", "internal/nodehosts", "internal/policystatus", "internal/resolve",
		"internal/workload", "policies", "policies/v1alpha1", "webhook",
	},
}

func TestLayers(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil || len(pkg.GoFiles) == 0 {
			return nil // no Go files, or only tests
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		want, ok := allowed[rel]
		if !ok {
			t.Errorf("package %q has no entry in the layering table", rel)
			return nil
		}
		seen++
		ok2 := map[string]bool{}
		for _, w := range want {
			ok2[w] = true
		}
		var bad []string
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if dep := strings.TrimPrefix(imp, module); !ok2[dep] {
				bad = append(bad, dep)
			}
		}
		sort.Strings(bad)
		if len(bad) > 0 {
			t.Errorf("package %q imports %v, which its layer does not allow", rel, bad)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no packages: is the test running from internal/?")
	}
}
