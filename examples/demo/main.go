// Command demo is `make run`: a local cluster with pullguard, with no
// network beyond the Go module proxy. `demo up` starts a detached
// supervisor (this binary again, `demo supervise`) that runs the test bed of
// package test/bed: etcd and kube-apiserver, two TLS registries with the
// sample images (one behind basic auth), `pullguard serve --self-signed`,
// the webhook configurations and an amd64 and an arm64 Node. Then up applies
// examples/manifests with the real kubectl, prints each command and its
// output, and leaves the cluster running; `demo down` stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// exitUsage is the exit status for bad arguments.
const exitUsage = 2

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		var u usageErr
		if errors.As(err, &u) {
			os.Exit(exitUsage)
		}
		os.Exit(1)
	}
}

type usageErr struct{ msg string }

func (u usageErr) Error() string { return u.msg }

// defaultDir is where the demo keeps its state, stable across runs so
// `demo down` finds what `demo up` started.
func defaultDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "pullguard", "demo")
}

func run(args []string) error {
	if len(args) == 0 {
		return usageErr{"usage: demo up|down [flags]"}
	}
	fs := flag.NewFlagSet("demo "+args[0], flag.ContinueOnError)
	dir := fs.String("dir", defaultDir(), "directory of the demo's state: pids, logs, kubeconfig, registries")
	pullguard := fs.String("pullguard", "bin/pullguard", "the pullguard binary (make build)")
	manifests := fs.String("manifests", "examples/manifests", "the sample manifests; ${REGISTRY} and ${PRIVATE_REGISTRY} are replaced")
	crds := fs.String("crds", "policies/crd", "the CRDs to install")
	realNode := fs.Bool("real-node", false, "also run a real kubelet + containerd node (root, cgroups, overlay mounts; make testbed builds it)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErr{err.Error()}
	}
	d, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch args[0] {
	case "up":
		return up(ctx, d, *pullguard, *manifests, *crds, *realNode)
	case "down":
		return down(d, os.Stdout)
	case "supervise":
		return supervise(ctx, d, *pullguard, *crds, *realNode)
	default:
		return usageErr{fmt.Sprintf("unknown command %q: want up or down", args[0])}
	}
}
