package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/examples/demo/walkthrough"
	"github.com/pullguard/pullguard/test/bed"
)

// Files of the demo's directory.
const (
	pidFile   = "supervisor.pid"
	logFile   = "supervisor.log"
	stateFile = "state.json" // written once the bed is ready
	bedDir    = "bed"
)

// selfSignedNamespace is where serve keeps its certificate Secret, as the
// chart's release namespace; the webhooks exclude it.
const selfSignedNamespace = "pullguard-system"

// state is what up needs of a ready bed.
type state struct {
	Kubeconfig string            `json:"kubeconfig"`
	Kubectl    string            `json:"kubectl"`
	Vars       map[string]string `json:"vars"`
	RegistryCA string            `json:"registryCA"`
	// RealNode is the real node's name, "" without one.
	RealNode string `json:"realNode,omitempty"`
}

// supervise runs the bed until SIGTERM or SIGINT, then stops it. It is the
// detached process up starts; its output goes to supervisor.log.
func supervise(ctx context.Context, dir, pullguard, crds string, realNode bool) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer os.Remove(filepath.Join(dir, stateFile))
	defer os.Remove(filepath.Join(dir, pidFile))
	bins, err := bed.BinariesFromEnv(pullguard)
	if err != nil {
		return err
	}
	var node *bed.NodeOptions
	if realNode {
		if err := bed.NodeSupport(); err != nil {
			return fmt.Errorf("this machine cannot run a real node: %w", err)
		}
		nb, err := bed.NodeBinariesFromEnv()
		if err != nil {
			return err
		}
		// The walkthrough's nodes have no kubelet: no controller-manager
		// may mark them NotReady.
		node = &bed.NodeOptions{Binaries: nb, WithoutControllers: true}
	}
	b, err := bed.Start(ctx, bed.Options{
		Dir:                 filepath.Join(dir, bedDir),
		Binaries:            bins,
		CRDDir:              crds,
		Images:              walkthrough.Images,
		NodeArchs:           []string{"amd64", "arm64"},
		SelfSignedNamespace: selfSignedNamespace,
		Prepare: func(ctx context.Context, b *bed.Bed) error {
			if realNode {
				if err := bed.CreateUnguardedNamespace(ctx, b.API.Client, unprotectedNamespace); err != nil {
					return err
				}
			}
			return bed.CreateNamespace(ctx, b.API.Client, "default", nil)
		},
		Node: node,
		// No tag, and shop/checkout has no latest: denied by the built-in policy.
		Probe: func(b *bed.Bed) *corev1.Pod {
			return &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: b.Public.Host + "/shop/checkout"}}},
			}
		},
		Progress: os.Stdout,
	})
	defer func() {
		if err := b.Stop(); err != nil {
			fmt.Println("demo:", err)
		}
		fmt.Println("demo: stopped")
	}()
	if err != nil {
		b.DumpLogs(os.Stdout, 5000)
		return err
	}
	st := state{Kubeconfig: b.API.Kubeconfig, Kubectl: bins.Kubectl, Vars: walkthrough.Vars(b.Public, b.Private), RegistryCA: b.CA.PEMPath}
	if b.Node != nil {
		st.RealNode = b.Node.Name
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return err
	}
	fmt.Println("demo: ready")
	<-ctx.Done()
	return nil
}
