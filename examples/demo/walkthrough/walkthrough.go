// Package walkthrough is what the demo shows: the sample images, the sample
// manifests of examples/manifests rendered for the bed's registries, and the
// kubectl commands that apply them, each with the outcome it must have. The
// demo prints it; the end-to-end suite runs it against its own bed, so a
// demo that stops showing what it claims fails a test.
package walkthrough

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/test/bed"
)

// Images are the images the sample manifests name, and the mirror's copy.
func Images(public, private *bed.Registry) []bed.Image {
	both := []v1.Platform{bed.AMD64, bed.ARM64}
	return []bed.Image{
		{Registry: public, Repo: "shop/storefront", Tag: "v1.2.0", Platforms: both},
		{Registry: public, Repo: "shop/storefront", Tag: "v1.2.1", Platforms: both},
		{Registry: public, Repo: "shop/storefront", Tag: "v1.3.0", Platforms: both},
		{Registry: public, Repo: "shop/checkout", Tag: "v2.0.0", Platforms: both},
		{Registry: public, Repo: "edge/agent", Tag: "v0.9.0", Platforms: []v1.Platform{bed.ARM64}},
		{Registry: public, Repo: "library/redis", Tag: "latest", Platforms: both},
		{Registry: private, Repo: "billing/invoicer", Tag: "v3.1.0", Platforms: []v1.Platform{bed.AMD64}},
		{Registry: public, Repo: "mirror/shop/storefront", Tag: "v1.2.0", CopyOf: public.Ref("shop/storefront", "v1.2.0")},
	}
}

// Vars are the variables the manifests use: REGISTRY (public, anonymous)
// and PRIVATE_REGISTRY (basic auth).
func Vars(public, private *bed.Registry) map[string]string {
	return map[string]string{"REGISTRY": public.Host, "PRIVATE_REGISTRY": private.Host}
}

// Render writes each *.yaml of dir into out with ${VAR}s replaced, and
// returns the written files' names in order.
func Render(dir, out string, vars map[string]string) ([]string, error) {
	entries, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no manifests in %q", dir)
	}
	sort.Strings(entries)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil {
			return nil, err
		}
		text := os.Expand(string(data), func(k string) string { return vars[k] })
		if err := os.WriteFile(filepath.Join(out, filepath.Base(e)), []byte(text), 0o644); err != nil {
			return nil, err
		}
		names = append(names, filepath.Base(e))
	}
	return names, nil
}

// Step is one command the demo runs and prints, with what must come of it.
type Step struct {
	// Say is printed before the command.
	Say  string
	Args []string
	Exit int
	// Want must each be in the output (after ${VAR} expansion).
	Want []string
}

// Steps are the walkthrough's kubectl commands, in order.
func Steps() []Step {
	apply := func(file string) []string { return []string{"apply", "-f", file} }
	denied := `admission webhook "validate.pullguard.io" denied the request`
	return []Step{
		{Say: "Namespaces and their default ServiceAccounts:", Args: apply("00-namespaces.yaml"), Want: []string{"namespace/pinned created"}},
		{Say: "Two ImagePolicies: digest pins in \"pinned\", a mirror in \"mirrored\":", Args: apply("01-policies.yaml"),
			Want: []string{"imagepolicy.pullguard.io/pin-digests created", "imagepolicy.pullguard.io/shop-mirror created"}},
		{Say: "pullguard reports each policy Ready once it has compiled it:",
			Args: []string{"wait", "--for=condition=Ready", "imagepolicy/pin-digests", "imagepolicy/shop-mirror", "--timeout=30s"},
			Want: []string{"condition met"}},
		{Say: "A good image is admitted:", Args: apply("02-good.yaml"), Want: []string{"deployment.apps/storefront created"}},
		{Say: "No tag, and the repository has no :latest:", Args: apply("03-missing-tag.yaml"), Exit: 1,
			Want: []string{denied, "[ImplicitLatest]", "[NotFound]", "${REGISTRY}/shop/checkout:v2.0.0"}},
		{Say: "A tag that does not exist, with the tags nearby:", Args: apply("04-unknown-tag.yaml"), Exit: 1,
			Want: []string{denied, "[NotFound]", "tags nearby: v1.2.0, v1.2.1", "${REGISTRY}/shop/storefront:v1.2.0"}},
		{Say: "A private image, and the pull secret it names does not exist:", Args: apply("05-private.yaml"), Exit: 1,
			Want: []string{denied, "[Unauthorized]", "kubectl create secret docker-registry regcred"}},
		{Say: "An arm64-only image for a pod that must run on amd64:", Args: apply("06-wrong-arch.yaml"), Exit: 1,
			Want: []string{denied, "[PlatformMismatch]", "it has linux/arm64, the pod needs linux/amd64"}},
		{Say: "An explicit :latest is admitted with a warning:", Args: apply("07-latest.yaml"),
			Want: []string{"Warning: pullguard: ", "mutable :latest", "statefulset.apps/cache created"}},
		{Say: "In namespace \"pinned\" the tag is pinned to its digest:", Args: apply("08-pin.yaml"), Want: []string{"pod/storefront created"}},
		{Args: []string{"get", "pod", "storefront", "-n", "pinned", "-o", "jsonpath={.spec.containers[0].image}"},
			Want: []string{"${REGISTRY}/shop/storefront:v1.2.1@sha256:"}},
		{Say: "In namespace \"mirrored\" the image is pulled from the mirror:", Args: apply("09-mirror.yaml"), Want: []string{"pod/storefront created"}},
		{Args: []string{"get", "pod", "storefront", "-n", "mirrored", "-o", "jsonpath={.spec.containers[0].image}"},
			Want: []string{"${REGISTRY}/mirror/shop/storefront:v1.2.0"}},
	}
}

// Env is where the walkthrough runs.
type Env struct {
	// Kubectl runs in the directory of the rendered manifests.
	Kubectl bed.Kubectl
	Vars    map[string]string
	// Pullguard, when set, is the binary for the closing `pullguard check`.
	Pullguard string
	// RegistryCA is the PEM file of the CA that signed the registries'
	// certificates, for `pullguard check --registry-ca-file`.
	RegistryCA string
	Out        io.Writer
}

// ErrUnexpected is wrapped for each step whose outcome is not the one the
// walkthrough promises.
var ErrUnexpected = errors.New("unexpected outcome")

// Run runs every step, printing each command and kubectl's output, then
// `pullguard check` on the same files. It goes on after a step that did not
// come out as promised and returns all such steps.
func Run(ctx context.Context, env Env) error {
	var errs []error
	for _, s := range Steps() {
		if s.Say != "" {
			fmt.Fprintf(env.Out, "\n# %s\n", s.Say)
		}
		fmt.Fprintf(env.Out, "$ kubectl %s\n", strings.Join(s.Args, " "))
		r, err := env.Kubectl.Run(ctx, "", s.Args...)
		if err != nil {
			return err
		}
		out := r.Stderr + r.Stdout
		fmt.Fprint(env.Out, out)
		if !strings.HasSuffix(out, "\n") {
			fmt.Fprintln(env.Out)
		}
		if err := check(s, r.Code, out, env.Vars); err != nil {
			errs = append(errs, err)
		}
	}
	if env.Pullguard != "" {
		if err := runCheck(ctx, env); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func check(s Step, code int, out string, vars map[string]string) error {
	var missing []string
	for _, w := range s.Want {
		if w = os.Expand(w, func(k string) string { return vars[k] }); !strings.Contains(out, w) {
			missing = append(missing, w)
		}
	}
	if code != s.Exit || len(missing) > 0 {
		return fmt.Errorf("kubectl %s: %w: exit %d (want %d), output lacks %q", strings.Join(s.Args, " "), ErrUnexpected, code, s.Exit, missing)
	}
	return nil
}

// runCheck shows the same decisions without a cluster, as CI gets them.
func runCheck(ctx context.Context, env Env) error {
	args := []string{"check", "-f", ".", "--platform", "linux/amd64,linux/arm64", "--registry-ca-file", env.RegistryCA}
	fmt.Fprintf(env.Out, "\n# The same files in CI, without a cluster:\n$ pullguard %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, env.Pullguard, args...)
	cmd.Dir = env.Kubectl.Dir
	out, err := cmd.CombinedOutput()
	fmt.Fprint(env.Out, string(out))
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		fmt.Fprintln(env.Out, "(exit status 1: something is denied)")
	case err != nil:
		return fmt.Errorf("pullguard check: %w", err)
	default:
		return fmt.Errorf("pullguard check: %w: exit 0, want 1", ErrUnexpected)
	}
	if !strings.Contains(string(out), "DENY PlatformMismatch") {
		return fmt.Errorf("pullguard check: %w: no PlatformMismatch", ErrUnexpected)
	}
	return nil
}
