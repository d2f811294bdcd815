package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pullguard/pullguard/examples/demo/walkthrough"
	"github.com/pullguard/pullguard/test/bed"
)

// readyTimeout bounds the supervisor's start: the API server, registries,
// images and pullguard take about 15 s on an idle machine.
const readyTimeout = 3 * time.Minute

// up stops a demo still running from dir, starts a new supervisor, waits
// until its bed is ready, runs the walkthrough and says how to go on.
func up(ctx context.Context, dir, pullguard, manifests, crds string, realNode bool) error {
	if err := down(dir, os.Stdout); err != nil {
		return err
	}
	for _, stale := range []string{bedDir, "manifests", "home", stateFile, logFile} {
		if err := os.RemoveAll(filepath.Join(dir, stale)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	abs := func(p string) (string, error) { return filepath.Abs(p) }
	pg, err := abs(pullguard)
	if err != nil {
		return err
	}
	crdDir, err := abs(crds)
	if err != nil {
		return err
	}
	fmt.Printf("Starting etcd, kube-apiserver, two registries and pullguard serve --self-signed (log: %s)\n", filepath.Join(dir, logFile))
	if realNode {
		fmt.Println("With a real node: containerd, runc and a kubelet registered as " + bed.DefaultNodeName)
	}
	exited, err := startSupervisor(dir, pg, crdDir, realNode)
	if err != nil {
		return err
	}
	st, err := waitReady(dir, exited)
	if err != nil {
		return err
	}
	rendered := filepath.Join(dir, "manifests")
	if _, err := walkthrough.Render(manifests, rendered, st.Vars); err != nil {
		return err
	}
	fmt.Printf("Registries: %s (public), %s (basic auth). Nodes: node-amd64, node-arm64.\n", st.Vars["REGISTRY"], st.Vars["PRIVATE_REGISTRY"])
	fmt.Printf("The manifests of %s, rendered for these registries, are in %s:\n", manifests, rendered)
	k := bed.Kubectl{Bin: st.Kubectl, Kubeconfig: st.Kubeconfig, Home: filepath.Join(dir, "home"), Dir: rendered}
	runErr := walkthrough.Run(ctx, walkthrough.Env{Kubectl: k, Vars: st.Vars, Pullguard: pg, RegistryCA: st.RegistryCA, Out: os.Stdout})
	if realNode {
		runErr = errors.Join(runErr, sideBySide(ctx, k, st, os.Stdout))
	}
	fmt.Printf(`
The demo cluster keeps running. Try your own manifests:
  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl apply -f YOUR.yaml
Stop it with: make demo-down
`, st.Kubeconfig, filepath.Dir(st.Kubectl))
	if runErr != nil {
		return fmt.Errorf("the demo did not show what it should:\n%w", runErr)
	}
	return nil
}

// startSupervisor re-executes this binary as `supervise` in a session of its
// own, with no terminal and its output in a file, so it outlives make and
// a Ctrl-C of it. The channel closes when the supervisor exits.
func startSupervisor(dir, pullguard, crds string, realNode bool) (<-chan struct{}, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, logFile))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	args := []string{"supervise", "--dir", dir, "--pullguard", pullguard, "--crds", crds}
	if realNode {
		args = append(args, "--real-node")
	}
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the supervisor: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return exited, nil
}

// waitReady waits for the supervisor's state file.
func waitReady(dir string, exited <-chan struct{}) (state, error) {
	deadline := time.After(readyTimeout)
	for {
		data, err := os.ReadFile(filepath.Join(dir, stateFile))
		if err == nil {
			var st state
			return st, json.Unmarshal(data, &st)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return state{}, err
		}
		select {
		case <-exited:
			return state{}, fmt.Errorf("the demo cluster did not start:\n%s", tail(filepath.Join(dir, logFile), 4000))
		case <-deadline:
			_ = down(dir, os.Stdout)
			return state{}, fmt.Errorf("the demo cluster was not ready after %s:\n%s", readyTimeout, tail(filepath.Join(dir, logFile), 4000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
