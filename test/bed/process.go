package bed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 10 * time.Second

// Process is a child binary of the bed with its output in a log file.
type Process struct {
	Name string
	// Log is the file its stdout and stderr go to.
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartProcess runs bin with args and env added to this process's environment, its
// stdout and stderr written to logPath.
func StartProcess(name, logPath string, env []string, bin string, args ...string) (*Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks the process to end (SIGTERM) and kills it after a grace
// period: only this child, by its own pid. A nil or ended process is fine.
func (p *Process) Stop() {
	if p == nil || p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the last n bytes of the process's log, for failure reports.
func (p *Process) Tail(n int) string {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// FreePort is a loopback port nothing listens on now (racy only against
// other processes of this machine picking the same port in the next instant).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts is n free loopback ports, for a process that listens on several.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	return ports, nil
}

// ErrNotReady is wrapped by WaitHTTP while a server answers with another
// status than the ones awaited.
var ErrNotReady = errors.New("not ready")

// WaitHTTP polls url until it answers one of codes, p exits or timeout
// passes.
func WaitHTTP(ctx context.Context, p *Process, client *http.Client, url string, timeout time.Duration, codes ...int) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			for _, c := range codes {
				if resp.StatusCode == c {
					return nil
				}
			}
			last = fmt.Errorf("%w: %s answered %d", ErrNotReady, url, resp.StatusCode)
		} else {
			last = err
		}
		if p.Exited() {
			return fmt.Errorf("%s exited: %s", p.Name, p.Tail(2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %w)", p.Name, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
