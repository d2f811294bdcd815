package bed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
)

// Binaries are the programs the bed runs.
type Binaries struct {
	// Assets is envtest's directory of kube-apiserver, etcd and kubectl.
	Assets, Registry, Kubectl, Pullguard string
}

// BinariesFromEnv reads the variables test/testbed/env.sh exports
// (KUBEBUILDER_ASSETS, PULLGUARD_REGISTRY, PULLGUARD_KUBECTL) and takes
// pullguard from $PULLGUARD_BIN, or else pullguard (make build's
// bin/pullguard, as the caller finds it). Each must exist.
func BinariesFromEnv(pullguard string) (Binaries, error) {
	var b Binaries
	var errs []error
	for _, v := range []struct {
		name string
		dst  *string
	}{{"KUBEBUILDER_ASSETS", &b.Assets}, {"PULLGUARD_REGISTRY", &b.Registry}, {"PULLGUARD_KUBECTL", &b.Kubectl}} {
		p := os.Getenv(v.name)
		if p == "" {
			errs = append(errs, fmt.Errorf("%s is not set: run make testbed, then eval \"$(test/testbed/env.sh)\"", v.name))
			continue
		}
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
		*v.dst = p
	}
	if p := os.Getenv("PULLGUARD_BIN"); p != "" {
		pullguard = p
	}
	abs, err := filepath.Abs(pullguard)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("pullguard binary: %w (run make build, or set PULLGUARD_BIN)", err))
	}
	b.Pullguard = abs
	return b, errors.Join(errs...)
}

// Options say what to start beyond the API server, the registries and
// pullguard.
type Options struct {
	// Dir receives every file of the bed; it is created if missing.
	Dir      string
	Binaries Binaries
	// CRDDir holds the CRDs to install (the repository's policies/crd).
	CRDDir string
	// PrivateUser is the private registry's user (default "pullguard").
	PrivateUser string
	// Images lists the fixtures to push once the registries run.
	Images func(public, private *Registry) []Image
	// NodeArchs are the architectures of the Ready linux nodes to create,
	// one node "node-<arch>" each.
	NodeArchs []string
	// Prepare creates what the cases rely on before pullguard starts, so
	// its caches hold them once it is ready; nil creates nothing.
	Prepare func(ctx context.Context, b *Bed) error
	// SelfSignedNamespace, when set, is created and pullguard serve
	// bootstraps its own certificate there (--self-signed) instead of
	// using one from the bed's CA; the webhooks exclude it.
	SelfSignedNamespace string
	// ServeArgs are more flags for pullguard serve.
	ServeArgs []string
	// Probe is a pod the webhooks deny, tried in dry runs until they do.
	Probe func(b *Bed) *corev1.Pod
	// Progress receives one line per step with its time; nil is silent.
	Progress io.Writer
	// Node, when set, runs a real node (NodeSupport says whether the
	// machine can) with the pause program as sandbox image, pushed to the
	// public registry with NodeImages' images.
	Node *NodeOptions
	// NodeImages are images to push once the pause programs are built
	// (Bed.Programs), for the real node to run.
	NodeImages func(b *Bed) []Image
}

// Bed is everything Start started.
type Bed struct {
	Dir      string
	Binaries Binaries
	CA       *Authority
	API      *APIServer
	Public   *Registry
	Private  *Registry
	Digests  Digests
	Serve    *Serve
	Kubectl  Kubectl
	// Node is the real node, when Options asked for one; Programs the
	// pause program it runs, by architecture.
	Node     *Node
	Programs Programs
	progress io.Writer
}

// Start starts the bed in order: the API server; the registries and their
// images; nodes and whatever Prepare creates; pullguard; then the webhook
// configurations. It returns what it started even on error: call Stop.
func Start(ctx context.Context, o Options) (*Bed, error) {
	b := &Bed{Dir: o.Dir, Binaries: o.Binaries, progress: o.Progress}
	if b.progress == nil {
		b.progress = io.Discard
	}
	if o.Dir == "" || o.Probe == nil {
		return b, errors.New("bed options need Dir and Probe")
	}
	if o.PrivateUser == "" {
		o.PrivateUser = "pullguard"
	}
	var err error
	if b.CA, err = NewAuthority(o.Dir); err != nil {
		return b, err
	}

	step := time.Now()
	var apiOpts []APIServerOption
	if o.Node != nil && !o.Node.WithoutControllers {
		// Pods run for real: the kubelet pulls with the secrets stored in
		// the pod, which is where this plugin puts the service account's.
		// (It needs each namespace's default ServiceAccount, which the
		// controller-manager creates.)
		apiOpts = append(apiOpts, WithServiceAccountAdmission())
	}
	b.API, err = StartAPIServer(o.Binaries.Assets, o.CRDDir, filepath.Join(o.Dir, "kubeconfig"), apiOpts...)
	if err != nil {
		return b, err
	}
	b.Kubectl = Kubectl{Bin: o.Binaries.Kubectl, Kubeconfig: b.API.Kubeconfig, Home: filepath.Join(o.Dir, "home")}
	b.logStep("API server", step)

	step = time.Now()
	if b.Public, err = StartRegistry(ctx, o.Binaries.Registry, filepath.Join(o.Dir, "public"), b.CA, ""); err != nil {
		return b, fmt.Errorf("public registry: %w", err)
	}
	if b.Private, err = StartRegistry(ctx, o.Binaries.Registry, filepath.Join(o.Dir, "private"), b.CA, o.PrivateUser); err != nil {
		return b, fmt.Errorf("private registry: %w", err)
	}
	var images []Image
	if o.Images != nil {
		images = o.Images(b.Public, b.Private)
	}
	if b.Digests, err = Push(ctx, b.CA, images); err != nil {
		return b, fmt.Errorf("images: %w", err)
	}
	b.logStep("registries and images", step)

	if o.Node != nil {
		step = time.Now()
		if err := b.startNode(ctx, o); err != nil {
			return b, fmt.Errorf("real node: %w", err)
		}
		b.logStep("real node Ready", step)
	}

	step = time.Now()
	c := b.API.Client
	for _, arch := range o.NodeArchs {
		if err := CreateNode(ctx, c, "node-"+arch, arch); err != nil {
			return b, err
		}
	}
	var exclude []string
	if ns := o.SelfSignedNamespace; ns != "" {
		if err := CreateNamespace(ctx, c, ns, nil); err != nil {
			return b, err
		}
		exclude = append(exclude, ns)
	}
	if o.Prepare != nil {
		if err := o.Prepare(ctx, b); err != nil {
			return b, fmt.Errorf("cluster objects: %w", err)
		}
	}
	b.logStep("nodes and cluster objects", step)

	step = time.Now()
	b.Serve, err = StartServe(ctx, ServeOptions{
		Bin: o.Binaries.Pullguard, Dir: o.Dir, Kubeconfig: b.API.Kubeconfig, CA: b.CA,
		SelfSignedNamespace: o.SelfSignedNamespace, Args: o.ServeArgs,
	})
	if err != nil {
		return b, err
	}
	b.logStep("pullguard serve ready", step)

	step = time.Now()
	if err := RegisterWebhooks(ctx, c, b.Serve, exclude, o.Probe(b)); err != nil {
		return b, err
	}
	b.logStep("webhooks answering", step)
	return b, nil
}

// PauseRepo and PauseTag name the sandbox image on the public registry.
const (
	PauseRepo = "pullguard/pause"
	PauseTag  = "bed"
)

// startNode builds the pause programs, pushes the sandbox image and the
// node's images, and starts the real node.
func (b *Bed) startNode(ctx context.Context, o Options) error {
	var err error
	if b.Programs, err = BuildPause(ctx, filepath.Join(b.Dir, "pause")); err != nil {
		return err
	}
	images := []Image{{Registry: b.Public, Repo: PauseRepo, Tag: PauseTag, Platforms: []v1.Platform{AMD64}, Programs: b.Programs}}
	if o.NodeImages != nil {
		images = append(images, o.NodeImages(b)...)
	}
	digests, err := Push(ctx, b.CA, images)
	if err != nil {
		return fmt.Errorf("node images: %w", err)
	}
	maps.Copy(b.Digests, digests)
	b.Node, err = StartNode(ctx, *o.Node, filepath.Join(b.Dir, "node"), b.API, b.CA,
		[]*Registry{b.Public, b.Private}, b.Public.Ref(PauseRepo, PauseTag))
	return err
}

func (b *Bed) logStep(what string, since time.Time) {
	fmt.Fprintf(b.progress, "bed: %-38s %s\n", what, time.Since(since).Round(time.Millisecond))
}

// Stop stops what Start started, last first; a partly started bed is fine.
// It leaves Dir for the caller to keep or remove.
func (b *Bed) Stop() error {
	if b == nil {
		return nil
	}
	var errs []error
	// The node first: it deletes its pods through the API server.
	if b.Node != nil {
		step := time.Now()
		if err := b.Node.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the real node: %w", err))
		}
		b.logStep("real node stopped and cleaned up", step)
	}
	if b.Serve != nil {
		b.Serve.Proc.Stop()
	}
	for _, r := range []*Registry{b.Private, b.Public} {
		if r != nil {
			r.Proc.Stop()
		}
	}
	if err := b.API.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop the API server: %w", err))
	}
	return errors.Join(errs...)
}

// Processes are the bed's own children, pullguard first (etcd and
// kube-apiserver belong to envtest).
func (b *Bed) Processes() []*Process {
	var out []*Process
	if b.Serve != nil && b.Serve.Proc != nil {
		out = append(out, b.Serve.Proc)
	}
	for _, r := range []*Registry{b.Public, b.Private} {
		if r != nil {
			out = append(out, r.Proc)
		}
	}
	if b.Node != nil {
		out = append(out, b.Node.Processes()...)
	}
	return out
}

// DumpLogs writes the end of every child's log to w, pullguard's first.
func (b *Bed) DumpLogs(w io.Writer, n int) {
	for _, p := range b.Processes() {
		fmt.Fprintf(w, "\n===== %s log (%s), last %d bytes =====\n%s\n", p.Name, p.Log, n, p.Tail(n))
	}
}
