package policies

import (
	"os/exec"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	// go test puts its own go first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// policies is the pure core (STYLE.md habit 1): nothing it builds on may be
// the webhook, the CLI or the cluster view, and its own code does no I/O.
// (resolve, whose types it uses, dials registries; policies never calls that.)
func TestDependencies(t *testing.T) {
	t.Parallel()
	const module = "github.com/pullguard/pullguard/"
	for _, pkg := range goList(t, "-deps", ".", "./v1alpha1") {
		for _, banned := range []string{module + "webhook", module + "cmd", module + "internal/cluster",
			"sigs.k8s.io/controller-runtime/pkg/webhook", "k8s.io/client-go"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("policies depends on %s", pkg)
			}
		}
	}
	for _, pkg := range goList(t, "-f", `{{join .Imports "\n"}}`, ".", "./v1alpha1") {
		switch pkg {
		case "os", "os/exec", "net", "net/http", "io/ioutil", "io/fs":
			t.Errorf("policies imports %s", pkg)
		}
	}
}
