package bed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Waits of the real node (REALNODE.md measured ~1 s for containerd and the
// node's registration; Ready follows the first status update).
const (
	containerdReadyTimeout = 30 * time.Second
	nodeReadyTimeout       = 90 * time.Second
	// nodeLockWait is how long a bed waits for another bed's node to go:
	// two nodes on one machine would share cgroups, /run/containerd and
	// the host sysctls.
	nodeLockWait = 15 * time.Minute
	// nodeLock is machine-wide on purpose.
	nodeLock = "/run/pullguard-node.lock"
)

// varLibKubelet is the kubelet's fixed directory for device plugins'
// sockets (it ignores --root-dir for them).
const varLibKubelet = "/var/lib/kubelet"

// DefaultNodeName names the real node unless NodeOptions say otherwise.
const DefaultNodeName = "pullguard-node"

// kubeletSysctls are the host sysctls the kubelet rewrites when it starts
// (vm.overcommit_memory 0→1, kernel.panic 1→10, kernel.panic_on_oops 0→1)
// and the bed writes back: they are machine-wide.
var kubeletSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// NodeBinaries are the real node's programs (test/testbed builds them).
type NodeBinaries struct {
	Kubelet, ControllerManager, Scheduler string
	// Containerd, Shim (containerd-shim-runc-v2) and Ctr are containerd's.
	Containerd, Shim, Ctr string
	Runc                  string
}

// NodeBinariesFromEnv reads the variables test/testbed/env.sh exports for
// the real node. Each must exist.
func NodeBinariesFromEnv() (NodeBinaries, error) {
	var b NodeBinaries
	var errs []error
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"PULLGUARD_KUBELET", &b.Kubelet},
		{"PULLGUARD_KUBE_CONTROLLER_MANAGER", &b.ControllerManager},
		{"PULLGUARD_KUBE_SCHEDULER", &b.Scheduler},
		{"PULLGUARD_CONTAINERD", &b.Containerd},
		{"PULLGUARD_CONTAINERD_SHIM", &b.Shim},
		{"PULLGUARD_CTR", &b.Ctr},
		{"PULLGUARD_RUNC", &b.Runc},
	} {
		p := os.Getenv(v.name)
		if p == "" {
			errs = append(errs, fmt.Errorf("%s is not set", v.name))
			continue
		}
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
		*v.dst = p
	}
	if err := errors.Join(errs...); err != nil {
		return b, fmt.Errorf("%w (run make testbed, then eval \"$(test/testbed/env.sh)\")", err)
	}
	return b, nil
}

// NodeSupport says why this machine cannot run a real node: the kubelet
// and containerd need root, cgroups they can write and overlay mounts (the
// overlayfs snapshotter). nil means it can.
func NodeSupport() error {
	if os.Geteuid() != 0 {
		return errors.New("not root: the kubelet and containerd need root")
	}
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		return fmt.Errorf("no /dev/kmsg for the kubelet's OOM watcher: %w", err)
	}
	// cgroup v2 has one tree; v1 one per controller, memory among them.
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		root = "/sys/fs/cgroup"
	}
	probe := filepath.Join(root, fmt.Sprintf("pullguard-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("cannot create cgroups (%w)", err)
	}
	_ = os.Remove(probe)
	dir, err := os.MkdirTemp("", "pullguard-overlay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%[1]s/lower,upperdir=%[1]s/upper,workdir=%[1]s/work", dir)
	if err := syscall.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("cannot mount overlayfs in %s (%w)", os.TempDir(), err)
	}
	_ = syscall.Unmount(filepath.Join(dir, "merged"), 0)
	return nil
}

// NodeOptions say how to run the real node.
type NodeOptions struct {
	Binaries NodeBinaries
	// Name is the Node's name (DefaultNodeName when empty).
	Name string
	// WithoutControllers runs no kube-controller-manager and no
	// kube-scheduler: for a bed that also has Nodes without a kubelet
	// (NodeArchs), which the node lifecycle controller would mark NotReady
	// and evict. Pods then need spec.nodeName, and namespaces their
	// default ServiceAccount (CreateNamespace makes it).
	WithoutControllers bool
}

// Node is a real kubelet with containerd and runc, registered with the
// bed's API server, plus kube-controller-manager and kube-scheduler, so
// workloads create, schedule and run their pods as in a cluster. Pods on
// it need hostNetwork: there is no pod network.
type Node struct {
	Name string
	// Pause is the sandbox image containerd runs for every pod.
	Pause string
	dir   string
	// state is containerd's state directory, socket its gRPC socket.
	state, socket string
	bins          NodeBinaries
	c             client.Client

	Containerd, Kubelet, ControllerManager, Scheduler *Process

	// varLibKubelet is set when the kubelet is to leave no
	// /var/lib/kubelet behind: its device manager's socket is there
	// whatever --root-dir says, and it did not exist before.
	varLibKubelet bool

	// saved are the host sysctls as they were before the kubelet started.
	saved map[string]string
	lock  *os.File
}

// StartNode starts containerd, the kubelet, kube-controller-manager and
// kube-scheduler against api, pulling from registries (TLS from ca) with
// pause as the sandbox image, and waits for the node to be Ready. The
// kubelet's sysctl changes are undone as soon as it has made them. It
// returns what it started even on error: call Stop.
func StartNode(ctx context.Context, o NodeOptions, dir string, api *APIServer, ca *Authority, registries []*Registry, pause string) (*Node, error) {
	if o.Name == "" {
		o.Name = DefaultNodeName
	}
	n := &Node{Name: o.Name, Pause: pause, dir: dir, bins: o.Binaries, c: api.Client}
	var err error
	if n.lock, err = lockMachine(ctx, nodeLock, nodeLockWait); err != nil {
		return n, err
	}
	n.state = fmt.Sprintf("/run/pullguard-containerd-%d", os.Getpid())
	n.socket = filepath.Join(n.state, "containerd.sock")
	for _, d := range []string{"etc/containerd/certs.d", "etc/cni/net.d", "lib/containerd", "lib/kubelet", "lib/pod-logs", "pki"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return n, err
		}
	}
	if err := n.writeContainerdConfig(ca, registries); err != nil {
		return n, err
	}
	path := strings.Join([]string{filepath.Dir(n.bins.Shim), filepath.Dir(n.bins.Runc), os.Getenv("PATH")}, string(os.PathListSeparator))
	n.Containerd, err = StartProcess("containerd", filepath.Join(dir, "containerd.log"), []string{"PATH=" + path},
		n.bins.Containerd, "--config", filepath.Join(dir, "etc/containerd/config.toml"))
	if err != nil {
		return n, err
	}
	if err := waitSocket(ctx, n.Containerd, n.socket, containerdReadyTimeout); err != nil {
		return n, err
	}

	kubeconfig, err := nodeKubeconfig(api, n.Name, filepath.Join(dir, "kubelet.kubeconfig"))
	if err != nil {
		return n, err
	}
	if err := n.writeKubeletConfig(); err != nil {
		return n, err
	}
	if _, err := os.Stat(varLibKubelet); errors.Is(err, os.ErrNotExist) {
		n.varLibKubelet = true
	}
	if n.saved, err = readSysctls(); err != nil {
		return n, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sysctl.saved"), []byte(fmt.Sprint(n.saved)), 0o600); err != nil {
		return n, err
	}
	n.Kubelet, err = StartProcess("kubelet", filepath.Join(dir, "kubelet.log"), []string{"PATH=" + path}, n.bins.Kubelet,
		"--config", filepath.Join(dir, "etc/kubelet/config.yaml"),
		"--kubeconfig", kubeconfig,
		"--hostname-override", n.Name,
		"--root-dir", filepath.Join(dir, "lib/kubelet"),
		"--cert-dir", filepath.Join(dir, "lib/kubelet/pki"),
		"--v", "2")
	if err != nil {
		return n, err
	}
	if !o.WithoutControllers {
		if err := n.startControllers(api); err != nil {
			return n, err
		}
	}
	if err := n.waitReady(ctx); err != nil {
		return n, err
	}
	// The kubelet sets the sysctls once, while its container manager
	// starts, which is over by the time the node is Ready.
	if err := n.restoreSysctls(); err != nil {
		return n, err
	}
	return n, nil
}

// writeContainerdConfig writes config.toml (REALNODE.md's, with
// restrict_oom_score_adj for a root without CAP_SYS_RESOURCE), a hosts.toml
// per registry trusting ca, and a CNI network that only makes the runtime
// report its network ready: pods use hostNetwork, so it is never invoked.
func (n *Node) writeContainerdConfig(ca *Authority, registries []*Registry) error {
	certs := filepath.Join(n.dir, "etc/containerd/certs.d")
	for _, r := range registries {
		if err := n.TrustRegistry(r.Host, ca); err != nil {
			return err
		}
	}
	cni := `{"cniVersion": "1.0.0", "name": "pullguard-host-network-only", "plugins": [{"type": "pullguard-no-pod-network"}]}`
	if err := os.WriteFile(filepath.Join(n.dir, "etc/cni/net.d/10-none.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	config := fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q

# Nothing outside the bed's directories: the opt plugin's /opt/containerd
# and NRI's /var/run/nri would outlive it.
[plugins.'io.containerd.internal.v1.opt']
  path = %[10]q
[plugins.'io.containerd.nri.v1.nri']
  socket_path = %[11]q

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[5]q
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %[6]q

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[7]q
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[8]q]
    conf_dir = %[9]q
`, filepath.Join(n.dir, "lib/containerd"), n.state, n.socket, n.socket+".ttrpc", n.Pause, certs, n.bins.Runc,
		filepath.Join(n.dir, "cni-bin"), filepath.Join(n.dir, "etc/cni/net.d"),
		filepath.Join(n.dir, "opt"), filepath.Join(n.state, "nri.sock"))
	return os.WriteFile(filepath.Join(n.dir, "etc/containerd/config.toml"), []byte(config), 0o644)
}

// TrustRegistry writes containerd's hosts.toml for host (127.0.0.1:PORT):
// HTTPS with the certificate ca signed. containerd reads it at each pull, so
// a registry started after the node is trusted from then on.
func (n *Node) TrustRegistry(host string, ca *Authority) error {
	d := filepath.Join(n.dir, "etc/containerd/certs.d", host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	hosts := fmt.Sprintf("server = %q\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n",
		"https://"+host, "https://"+host, ca.PEMPath)
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(hosts), 0o644)
}

func (n *Node) writeKubeletConfig() error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s
address: 127.0.0.1
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
podLogsDir: %[4]s
resolvConf: /etc/resolv.conf
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
maxPods: 110
nodeStatusUpdateFrequency: 2s
`, n.socket, ports[0], ports[1], filepath.Join(n.dir, "lib/pod-logs"))
	if err := os.MkdirAll(filepath.Join(n.dir, "etc/kubelet"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.dir, "etc/kubelet/config.yaml"), []byte(config), 0o644)
}

// startControllers runs kube-controller-manager (ReplicaSets, Deployments,
// Jobs, service accounts, the node lifecycle that lifts the not-ready
// taint) and kube-scheduler with the bed's admin kubeconfig.
func (n *Node) startControllers(api *APIServer) error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	kc := api.Kubeconfig
	n.ControllerManager, err = StartProcess("kube-controller-manager", filepath.Join(n.dir, "kube-controller-manager.log"), nil,
		n.bins.ControllerManager, "--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[0]),
		"--cert-dir", filepath.Join(n.dir, "pki/kube-controller-manager"), "--node-monitor-period", "2s")
	if err != nil {
		return err
	}
	n.Scheduler, err = StartProcess("kube-scheduler", filepath.Join(n.dir, "kube-scheduler.log"), nil,
		n.bins.Scheduler, "--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[1]),
		"--cert-dir", filepath.Join(n.dir, "pki/kube-scheduler"))
	return err
}

// nodeKubeconfig writes a kubeconfig for the kubelet: user system:node:NAME
// in system:nodes (and system:masters: the bed's API server authorizes
// with RBAC only, not the Node authorizer).
func nodeKubeconfig(api *APIServer, name, path string) (string, error) {
	user, err := api.Env.AddUser(envtest.User{Name: "system:node:" + name, Groups: []string{"system:nodes", "system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add the kubelet's user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, kc, 0o600)
}

// waitReady waits until the Node is Ready without the not-ready taint, so
// the scheduler places pods on it and pullguard counts its platform.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, nodeReadyTimeout)
	defer cancel()
	var last string
	for {
		var node corev1.Node
		err := n.c.Get(ctx, client.ObjectKey{Name: n.Name}, &node)
		switch {
		case err != nil:
			last = err.Error()
		case !nodeReady(&node):
			last = fmt.Sprintf("not Ready: %v", node.Status.Conditions)
		case len(node.Spec.Taints) > 0:
			last = fmt.Sprintf("tainted %v", node.Spec.Taints)
			// The node lifecycle controller lifts the taint the API
			// server put on the new node only some 30 s after it is
			// Ready; lift it as that controller will.
			if lifted := withoutNotReadyTaint(node.Spec.Taints); len(lifted) < len(node.Spec.Taints) {
				node.Spec.Taints = lifted
				_ = n.c.Update(ctx, &node)
			}
		default:
			return nil
		}
		for _, p := range n.Processes() {
			if p.Exited() {
				return fmt.Errorf("%s exited: %s", p.Name, p.Tail(3000))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %q: %w (last: %s)", n.Name, ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func withoutNotReadyTaint(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Key != corev1.TaintNodeNotReady {
			out = append(out, t)
		}
	}
	return out
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Processes are the node's programs, the kubelet first.
func (n *Node) Processes() []*Process {
	var out []*Process
	for _, p := range []*Process{n.Kubelet, n.Containerd, n.ControllerManager, n.Scheduler} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Stop tears the node down as REALNODE.md does: pods deleted (the kubelet
// stops their sandboxes), the kubelet and controllers stopped, containers
// and tasks left behind removed with ctr, containerd stopped, shims of
// this containerd killed by pid, mounts under the node's directories
// unmounted, the kubelet's cgroups removed, /run/containerd and the state
// directory removed, the sysctls written back. A nil or partly started
// node is fine; every step runs even when one before failed.
func (n *Node) Stop() error {
	// Without the machine lock nothing was started, and what is in
	// /run/containerd and the cgroups belongs to another bed.
	if n == nil || n.lock == nil {
		return nil
	}
	var errs []error
	var phases []string
	start := time.Now()
	phase := func(what string) {
		phases = append(phases, fmt.Sprintf("%s %s", what, time.Since(start).Round(time.Millisecond)))
	}
	defer func() {
		_ = os.WriteFile(filepath.Join(n.dir, "stop.log"), []byte(strings.Join(phases, "\n")+"\n"), 0o644)
	}()
	// The controllers first, or ReplicaSets would replace deleted pods.
	n.Scheduler.Stop()
	n.ControllerManager.Stop()
	if n.Kubelet != nil && !n.Kubelet.Exited() {
		n.deletePods()
	}
	phase("pods deleted")
	n.Kubelet.Stop()
	phase("kubelet stopped")
	if n.Containerd != nil && !n.Containerd.Exited() {
		n.removeContainers()
	}
	n.Containerd.Stop()
	phase("containerd stopped")
	n.killShims()
	errs = append(errs, unmountUnder(n.dir, n.state, "/run/containerd"))
	errs = append(errs, removeCgroups("kubepods"))
	leftovers := []string{n.state, "/run/containerd"}
	if n.varLibKubelet {
		leftovers = append(leftovers, varLibKubelet)
	}
	for _, d := range leftovers {
		if n.state == "" {
			break
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, n.restoreSysctls())
	if n.lock != nil {
		n.lock.Close() // releases the flock
		n.lock = nil
	}
	return errors.Join(errs...)
}

// deletePods force-deletes the node's pods and waits (briefly) for the
// kubelet to stop their sandboxes.
func (n *Node) deletePods() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := n.c.List(ctx, &pods); err != nil {
		return
	}
	zero := int64(0)
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == n.Name {
			_ = n.c.Delete(ctx, p, &client.DeleteOptions{GracePeriodSeconds: &zero})
		}
	}
	for ctx.Err() == nil {
		if tasks := n.ctr(ctx, "tasks", "ls", "-q"); strings.TrimSpace(tasks) == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ctr runs ctr on the node's containerd in the kubelet's namespace and
// returns its stdout ("" on error).
func (n *Node) ctr(ctx context.Context, args ...string) string {
	out, err := exec.CommandContext(ctx, n.bins.Ctr, append([]string{"--address", n.socket, "--namespace", "k8s.io"}, args...)...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// removeContainers kills and removes every task and container left.
func (n *Node) removeContainers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range strings.Fields(n.ctr(ctx, "tasks", "ls", "-q")) {
		n.ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	}
	for _, id := range strings.Fields(n.ctr(ctx, "tasks", "ls", "-q")) {
		n.ctr(ctx, "tasks", "delete", "--force", id)
	}
	for _, id := range strings.Fields(n.ctr(ctx, "containers", "ls", "-q")) {
		n.ctr(ctx, "containers", "rm", id)
	}
}

// killShims kills the shims of this containerd: processes running the
// shim binary with this containerd's socket on their command line. They
// outlive containerd by design (they reparent to init).
func (n *Node) killShims() {
	if n.bins.Shim == "" || n.socket == "" {
		return
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == filepath.Base(n.bins.Shim) && slices.Contains(args, n.socket) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount at or below the given directories,
// deepest first (the kubelet bind-mounts its root onto itself; containerd
// mounts each container's rootfs under its state).
func unmountUnder(dirs ...string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := strings.ReplaceAll(fields[4], `\040`, " ")
		for _, d := range dirs {
			if d != "" && (p == d || strings.HasPrefix(p, d+"/")) {
				points = append(points, p)
				break
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes name and everything below it in every cgroup
// hierarchy, depth first (a cgroup directory goes with rmdir only). Any
// process still inside is a container of this node: it is killed first.
func removeCgroups(name string) error {
	roots := []string{filepath.Join("/sys/fs/cgroup", name)}
	if hs, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, h := range hs {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", h.Name(), name))
		}
	}
	var errs []error
	for _, root := range roots {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if procs, err := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			var err error
			for try := 0; try < 20; try++ {
				if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func readSysctls() (map[string]string, error) {
	out := map[string]string{}
	for _, k := range kubeletSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: %w", k, err)
		}
		out[k] = strings.TrimSpace(string(v))
	}
	return out, nil
}

// restoreSysctls writes back what the kubelet changed; before the kubelet
// started (nothing saved) it does nothing.
func (n *Node) restoreSysctls() error {
	var errs []error
	for _, k := range kubeletSysctls {
		v, ok := n.saved[k]
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
		}
	}
	return errors.Join(errs...)
}

// lockMachine takes an exclusive flock on path, waiting up to wait.
func lockMachine(ctx context.Context, path string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: another real node holds %s (%v)", ErrNodeBusy, path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ErrNodeBusy is returned by StartNode when another bed's real node runs on
// this machine for longer than the bed waits.
var ErrNodeBusy = errors.New("real node busy")

// waitSocket waits until a unix socket accepts connections.
func waitSocket(ctx context.Context, p *Process, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited: %s", p.Name, p.Tail(3000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s socket %s: %w (last: %w)", p.Name, path, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
