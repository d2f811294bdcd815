package bed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/pullguard/pullguard/policies/v1alpha1"
	"github.com/pullguard/pullguard/webhook"
)

// APIServer is kube-apiserver and etcd started by envtest, with a client
// for the bed and a kubeconfig file for kubectl and pullguard.
type APIServer struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	// Kubeconfig is a file for a system:masters user, as a user has one.
	Kubeconfig string
}

// APIServerOption changes how StartAPIServer runs kube-apiserver.
type APIServerOption func(*envtest.Environment)

// WithServiceAccountAdmission turns the ServiceAccount admission plugin back
// on (envtest disables it), as in a real cluster: it copies a pod's service
// account imagePullSecrets into the pod, which is what the kubelet reads, and
// refuses pods whose service account does not exist.
func WithServiceAccountAdmission() APIServerOption {
	return func(e *envtest.Environment) {
		e.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	}
}

// StartAPIServer starts etcd and kube-apiserver from the assets directory
// (KUBEBUILDER_ASSETS), installs the CRDs of crdDir (none when it is "", for
// a caller that installs them itself, as a chart install does) and writes
// the kubeconfig to kubeconfigPath. Stop the returned server even on error.
func StartAPIServer(assets, crdDir, kubeconfigPath string, opts ...APIServerOption) (*APIServer, error) {
	s := &APIServer{Env: &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}}
	if crdDir != "" {
		s.Env.CRDDirectoryPaths = []string{crdDir}
	}
	for _, o := range opts {
		o(s.Env)
	}
	cfg, err := s.Env.Start()
	if err != nil {
		return s, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	s.Config = cfg
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return s, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return s, err
	}
	if s.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return s, err
	}
	user, err := s.Env.AddUser(envtest.User{Name: "pullguard-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return s, fmt.Errorf("add the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfigPath), 0o700); err != nil {
		return s, err
	}
	s.Kubeconfig = kubeconfigPath
	return s, os.WriteFile(kubeconfigPath, kc, 0o600)
}

// Stop stops kube-apiserver and etcd; a nil or unstarted server is fine.
func (s *APIServer) Stop() error {
	if s == nil || s.Env == nil || s.Config == nil {
		return nil
	}
	return s.Env.Stop()
}

// CreateNode registers a Ready linux node of arch, as a kubelet would.
func CreateNode(ctx context.Context, c client.Client, name, arch string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelArchStable: arch, corev1.LabelOSStable: "linux", corev1.LabelHostname: name,
	}}}
	if err := c.Create(ctx, node); err != nil {
		return fmt.Errorf("node %q: %w", name, err)
	}
	node.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
		NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: arch},
	}
	if err := c.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("node %q status: %w", name, err)
	}
	// The API server's TaintNodesByCondition admission taints every new
	// node not-ready:NoSchedule; the node lifecycle controller, which does
	// not run here, lifts it once the node is Ready. Lift it likewise, or
	// no pod could be scheduled on the node and pullguard rightly sees no
	// platforms.
	if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return err
	}
	node.Spec.Taints = nil
	if err := c.Update(ctx, node); err != nil {
		return fmt.Errorf("node %q taints: %w", name, err)
	}
	return nil
}

// CreateNamespace creates the namespace (an existing one is fine) and its
// "default" ServiceAccount, which pods name implicitly and which no
// controller-manager creates here.
func CreateNamespace(ctx context.Context, c client.Client, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %q: %w", name, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: name}}
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service account default in %q: %w", name, err)
	}
	return nil
}

// CreateUnguardedNamespace creates a namespace both webhooks skip (labelled
// webhook.OptOutLabel), with its default ServiceAccount: what happens there
// is what happens without pullguard.
func CreateUnguardedNamespace(ctx context.Context, c client.Client, name string) error {
	return CreateNamespace(ctx, c, name, map[string]string{webhook.OptOutLabel: "true"})
}
