// Command demo shows `pullguard check` at work with no cluster and no network:
// it starts two registries on loopback (one public, one behind basic auth),
// pushes the sample images, renders examples/manifests against them and runs
// the real pullguard binary on each, printing the command and its output.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pullguard/pullguard/internal/fixtures"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// The private registry's demo credentials: not a secret, and never printed by pullguard.
const demoUser, demoPassword = "demo", "demo-password"

func main() {
	pullguard := flag.String("pullguard", "bin/pullguard", "path of the pullguard binary to run")
	manifests := flag.String("manifests", "examples/manifests", "directory of sample manifests (${REGISTRY} and ${PRIVATE_REGISTRY} are replaced)")
	wait := flag.Bool("wait", false, "keep the registries running until interrupted, to try your own manifests")
	flag.Parse()
	if err := run(*pullguard, *manifests, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(pullguard, manifests string, wait bool) error {
	public, err := serve(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	if err != nil {
		return err
	}
	private, err := serve(basicAuth(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	if err != nil {
		return err
	}
	if err := pushSamples(public, private); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "pullguard-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	files, err := render(manifests, work, map[string]string{"REGISTRY": public, "PRIVATE_REGISTRY": private})
	if err != nil {
		return err
	}
	dockerConfig := filepath.Join(work, "docker-config.json")
	auth := base64.StdEncoding.EncodeToString([]byte(demoUser + ":" + demoPassword))
	if err := os.WriteFile(dockerConfig, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, private, auth), 0o600); err != nil {
		return err
	}
	insecure := []string{"--insecure-registry", public, "--insecure-registry", private}
	fmt.Printf("Registries on loopback: public %s, private %s (basic auth)\n", public, private)
	for _, f := range files {
		show(pullguard, append([]string{"check", "-f", f}, insecure...))
	}
	fmt.Println("\nThe private image again, with the credentials a pull secret would hold:")
	show(pullguard, append([]string{"check", "-f", filepath.Join(work, "04-private.yaml"), "--docker-config", dockerConfig}, insecure...))
	fmt.Println("\nThe arm64-only image, for a cluster with amd64 and arm64 nodes:")
	show(pullguard, append([]string{"check", "-f", filepath.Join(work, "05-wrong-arch.yaml"), "--platform", "linux/amd64,linux/arm64"}, insecure...))
	if !wait {
		return nil
	}
	fmt.Printf("\nTry your own manifests (Ctrl-C to stop):\n  %s check -f FILE %s\n", pullguard, strings.Join(insecure, " "))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	return nil
}

// show runs pullguard with args and prints the command line and its output.
func show(pullguard string, args []string) {
	fmt.Printf("\n$ pullguard %s\n", strings.Join(args, " "))
	cmd := exec.Command(pullguard, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	var exit *exec.ExitError
	if err := cmd.Run(); errors.As(err, &exit) {
		fmt.Printf("(exit status %d)\n", exit.ExitCode())
	} else if err != nil {
		fmt.Printf("(could not run %s: %v; run `make build` first)\n", pullguard, err)
	}
}

func serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(l, h) //nolint:errcheck // lives as long as the demo
	return l.Addr().String(), nil
}

func basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != demoUser || p != demoPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="pullguard-demo"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func pushSamples(public, private string) error {
	push := func(host, repoTag string, platforms []v1.Platform, opts ...remote.Option) error {
		ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
		if err != nil {
			return err
		}
		if len(platforms) == 1 {
			_, err = fixtures.PushImage(ref, platforms[0], opts...)
		} else {
			_, err = fixtures.PushIndex(ref, platforms, opts...)
		}
		return err
	}
	both := []v1.Platform{amd64, arm64}
	creds := remote.WithAuth(&authn.Basic{Username: demoUser, Password: demoPassword})
	for _, p := range []struct {
		host, repoTag string
		platforms     []v1.Platform
		opts          []remote.Option
	}{
		{public, "shop/storefront:v1.2.0", both, nil},
		{public, "shop/storefront:v1.2.1", both, nil},
		{public, "shop/storefront:v1.3.0", both, nil},
		{public, "shop/checkout:v2.0.0", both, nil},
		{public, "edge/agent:v0.9.0", []v1.Platform{arm64}, nil},
		{public, "library/redis:latest", both, nil},
		{private, "billing/invoicer:v3.1.0", []v1.Platform{amd64}, []remote.Option{creds}},
	} {
		if err := push(p.host, p.repoTag, p.platforms, p.opts...); err != nil {
			return err
		}
	}
	return nil
}

// render writes each manifest of dir into out with the variables replaced,
// and returns the written paths in name order.
func render(dir, out string, vars map[string]string) ([]string, error) {
	entries, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no manifests in %s", dir)
	}
	sort.Strings(entries)
	var files []string
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil {
			return nil, err
		}
		text := os.Expand(string(data), func(k string) string { return vars[k] })
		p := filepath.Join(out, filepath.Base(e))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return nil, err
		}
		files = append(files, p)
	}
	return files, nil
}
