package bed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// KubectlTimeout bounds one kubectl call, well above the webhooks' timeout.
const KubectlTimeout = 60 * time.Second

// Kubectl runs the real kubectl against the bed.
type Kubectl struct {
	Bin, Kubeconfig string
	// Home keeps kubectl's discovery cache out of the user's home.
	Home string
	// Dir is the working directory ("" for this process's), so commands
	// can name files as a user in that directory would.
	Dir string
	// Env are more environment variables ("KEY=value"), such as a PATH
	// that holds a kubectl plugin.
	Env []string
}

// Result is what a user sees of one kubectl call.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("kubectl %s: exit %d after %s\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.Args, " "), r.Code, r.Elapsed.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Output is stdout then stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Warnings are kubectl's "Warning: " lines.
func (r Result) Warnings() []string {
	var out []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// Run runs kubectl with args and stdin. A non-zero exit is a Result, not
// an error; the error is for kubectl not running at all.
func (k Kubectl) Run(ctx context.Context, stdin string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, KubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Bin, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+k.Kubeconfig), k.Env...)
	if k.Home != "" {
		cmd.Env = append(cmd.Env, "HOME="+k.Home)
	}
	cmd.Dir = k.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		return r, fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}
