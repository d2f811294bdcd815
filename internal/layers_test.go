package internal_test

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	"webhook":                   {"internal/decide", "internal/image", "internal/resolve", "internal/text", "internal/workload", "policies", "policies/v1alpha1"},
	"internal/background":       {"internal/cache", "internal/decide", "internal/image", "internal/resolve", "internal/text", "internal/workload", "policies", "policies/v1alpha1"},
	"internal/metrics":          {"internal/addressguard", "internal/image", "internal/resolve", "policies"},
	"internal/policystatus":     {"policies", "policies/v1alpha1"},
	"certs":                     {},
	"cmd/pullguard":             {"cmd/pullguard/app"},
	"examples/demo":             {"examples/demo/walkthrough", "test/bed"},
	"examples/demo/walkthrough": {"test/bed"},
	"test/e2e":                  {}, // only tests (tag e2e) and a doc.go
	"test/bed":                  {"certs", "internal/fixtures", "policies/v1alpha1", "webhook"},
	"hack/baseimage":            {"internal/fixtures"},
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

// pure holds the core to more than the module imports above (STYLE.md
// habit 1): policy is decided without the front doors and without I/O of
// its own; workload reads Kubernetes objects with their API types alone.
var pure = map[string]purity{
	"policies":          {never: frontDoors, noImports: doesIO},
	"policies/v1alpha1": {never: frontDoors, noImports: doesIO},
	"internal/workload": {only: []string{"k8s.io/api/", "k8s.io/apimachinery/"}},
}

type purity struct {
	// never: what the package may not build on however deep (go list
	// -deps): an import path, its subtree included.
	never []string
	// noImports: what its own code may not import.
	noImports []string
	// only, if set: the only imports it may make besides the standard
	// library and the module's own packages (those are allowed above).
	only []string
}

var (
	// frontDoors are the webhook, the CLI, the cluster view, a webhook
	// server and a Kubernetes client. (Policy may still build on packages
	// that do I/O, such as go-containerregistry's; doesIO keeps its own
	// code from it.)
	frontDoors = []string{module + "webhook", module + "cmd", module + "internal/cluster",
		"sigs.k8s.io/controller-runtime/pkg/webhook", "k8s.io/client-go"}
	doesIO = []string{"os", "os/exec", "net", "net/http", "io/ioutil", "io/fs"}
)

// TestLayers is the one layering test: every package's module imports
// (allowed), and what the core's packages may import and build on (pure).
func TestLayers(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
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
		seen[rel] = true
		var bad []string
		for _, imp := range pkg.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			switch rule := pure[rel]; {
			case ours && !slices.Contains(want, dep):
				bad = append(bad, dep)
			case slices.Contains(rule.noImports, imp):
				bad = append(bad, imp)
			case rule.only != nil && !ours && !standard(imp) && !slices.ContainsFunc(rule.only, func(p string) bool { return strings.HasPrefix(imp, p) }):
				bad = append(bad, imp)
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
	if len(seen) == 0 {
		t.Fatal("found no packages: is the test running from internal/?")
	}
	var deep []string
	for rel, rule := range pure {
		if !seen[rel] {
			t.Errorf("package %q has purity rules but is no package", rel)
		}
		if rule.never != nil {
			deep = append(deep, "./"+rel)
		}
	}
	sort.Strings(deep)
	for rel, deps := range deps(t, root, deep...) {
		for _, banned := range pure[rel].never {
			var hits []string
			for _, dep := range deps {
				if dep == banned || strings.HasPrefix(dep, banned+"/") {
					hits = append(hits, dep)
				}
			}
			if len(hits) > 0 {
				t.Errorf("package %q builds on %s (%s, %d packages in all), which it must never", rel, banned, hits[0], len(hits))
			}
		}
	}
}

// deps lists everything each package builds on, however deep (go list's
// Deps), by module-relative path for the module's packages.
func deps(t *testing.T, root string, pkgs ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}, pkgs...)...)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", pkgs, err, stderr.String())
	}
	all := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			all[strings.TrimPrefix(fields[0], module)] = fields[1:]
		}
	}
	if len(all) != len(pkgs) {
		t.Fatalf("go list %v listed %d packages", pkgs, len(all))
	}
	return all
}

// standard is true for standard library paths, whose first element has no dot.
func standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
