package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// downTimeout is how long down waits for the supervisor to stop its
// children before it gives up (envtest allows 20 s for the API server).
const downTimeout = 60 * time.Second

// down stops the supervisor recorded in dir, if one runs: SIGTERM to that
// one pid, which stops pullguard, the registries, kube-apiserver and etcd.
// Without one it does nothing, so it is safe to repeat.
func down(dir string, out io.Writer) error {
	data, err := os.ReadFile(filepath.Join(dir, pidFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !isSupervisor(pid) {
		// A stale file: the supervisor died without cleaning up, or the
		// pid now belongs to another process, which must not be signalled.
		_ = os.Remove(filepath.Join(dir, stateFile))
		return os.Remove(filepath.Join(dir, pidFile))
	}
	fmt.Fprintf(out, "Stopping the demo cluster (supervisor pid %d)\n", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop the supervisor %d: %w", pid, err)
	}
	deadline := time.Now().Add(downTimeout)
	for isSupervisor(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the supervisor %d did not stop within %s; see %s", pid, downTimeout, filepath.Join(dir, logFile))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = os.Remove(filepath.Join(dir, pidFile))
	fmt.Fprintln(out, "Stopped.")
	return nil
}

// isSupervisor reports whether pid is alive and is a demo supervisor (its
// command line says so), so a recycled pid is never signalled.
func isSupervisor(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has ended already.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	args := bytes.Split(cmdline, []byte{0})
	return len(args) > 1 && string(args[1]) == "supervise"
}
