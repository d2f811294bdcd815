// Package app holds pullguard's commands. Each command is built by a
// constructor that takes its streams, so tests run the real command in-process.
package app

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

// version and commit are stamped at build time with -ldflags -X.
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes of every pullguard command.
const (
	ExitOK     = 0 // nothing denied
	ExitDenied = 1 // at least one image use is denied by policy
	ExitUsage  = 2 // bad flags, unreadable or malformed input
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// errDenied is returned when the command ran fine but found a denial; the
// findings were already printed, so nothing more is said.
var errDenied = &exitError{code: ExitDenied, err: errors.New("denied")}

// Main runs pullguard with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code != ExitDenied {
			fmt.Fprintf(stderr, "pullguard: %v\n", err)
		}
		return ee.code
	}
	// cobra's own errors (unknown flag, bad flag value, unknown command).
	fmt.Fprintf(stderr, "pullguard: %v\n", err)
	return ExitUsage
}

// NewRootCommand builds the pullguard command tree.
func NewRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "pullguard",
		Short: "Stop ImagePullBackOff before it starts",
		Long: "pullguard resolves every image a Kubernetes workload names against its registry, " +
			"with the credentials and for the platforms that would be used, and reports what would fail to pull.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCommand(), newCheckCommand(), newServeCommand(runServe), newDiagnoseCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print pullguard's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "pullguard %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
