//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/pullguard/pullguard/policies/v1alpha1"
	"github.com/pullguard/pullguard/webhook"
)

// Namespaces of the cases, created before pullguard starts so its caches
// hold them (and the policies selecting them) once /readyz passes.
const (
	nsApps     = "e2e-apps"     // the built-in policy; pull secrets and a service account
	nsPin      = "e2e-pin"      // policy e2e-pin: pinDigests TagAndDigest
	nsMirror   = "e2e-mirror"   // policy e2e-mirror: shop/ through mirror/shop/
	nsAffinity = "e2e-affinity" // policy e2e-affinity: platformAffinity
	nsUpdate   = "e2e-update"   // starts opted out of the webhooks
	caseLabel  = "e2e.pullguard.io/case"
)

// Pull secrets and service accounts in nsApps.
const (
	podSecret  = "billing-pull"    // named by pods themselves
	saSecret   = "billing-pull-sa" // named only by service account saWithPull
	saWithPull = "billing"
)

func (b *bed) startAPIServer(assets string) error {
	b.env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "policies", "crd")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	cfg, err := b.env.Start()
	if err != nil {
		return fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	b.cfg = cfg
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	if b.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	// kubectl and pullguard get a kubeconfig of their own, as a user has.
	user, err := b.env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.dir, "kubeconfig")
	return os.WriteFile(b.kubeconfig, kc, 0o600)
}

// createClusterObjects makes the nodes, namespaces, pull secrets, service
// accounts and image policies the cases rely on.
func (b *bed) createClusterObjects(ctx context.Context) error {
	for _, arch := range []string{"amd64", "arm64"} {
		if err := b.createNode(ctx, "node-"+arch, arch); err != nil {
			return err
		}
	}
	namespaces := []*corev1.Namespace{
		namespace(nsApps, nil),
		namespace(nsPin, map[string]string{caseLabel: "pin"}),
		namespace(nsMirror, map[string]string{caseLabel: "mirror"}),
		namespace(nsAffinity, map[string]string{caseLabel: "affinity"}),
		namespace(nsUpdate, map[string]string{webhook.OptOutLabel: "true"}),
	}
	for _, ns := range namespaces {
		if err := b.client.Create(ctx, ns); err != nil {
			return err
		}
	}
	for _, s := range []string{podSecret, saSecret} {
		if err := b.client.Create(ctx, b.pullSecret(nsApps, s)); err != nil {
			return err
		}
	}
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: saWithPull, Namespace: nsApps},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: saSecret}},
	}
	if err := b.client.Create(ctx, sa); err != nil {
		return err
	}
	// No controller-manager runs: create the default service accounts the
	// cases' pods name implicitly.
	for _, ns := range namespaces {
		def := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
		if err := b.client.Create(ctx, def); err != nil {
			return err
		}
	}
	for _, p := range b.policies() {
		if err := b.client.Create(ctx, p); err != nil {
			return fmt.Errorf("image policy %q: %w", p.Name, err)
		}
	}
	return nil
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// createNode registers a Ready node of arch, as a kubelet would.
func (b *bed) createNode(ctx context.Context, name, arch string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelArchStable: arch, corev1.LabelOSStable: "linux", corev1.LabelHostname: name,
	}}}
	if err := b.client.Create(ctx, node); err != nil {
		return fmt.Errorf("node %q: %w", name, err)
	}
	node.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
		NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: arch},
	}
	if err := b.client.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("node %q status: %w", name, err)
	}
	// The API server's TaintNodesByCondition admission taints every new
	// node not-ready:NoSchedule; the node lifecycle controller, which does
	// not run here, lifts it once the node is Ready. Lift it likewise, or
	// no pod could be scheduled on the node and pullguard rightly sees no
	// platforms.
	if err := b.client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
		return err
	}
	node.Spec.Taints = nil
	if err := b.client.Update(ctx, node); err != nil {
		return fmt.Errorf("node %q taints: %w", name, err)
	}
	return nil
}

// pullSecret is a kubernetes.io/dockerconfigjson secret for the private
// registry, as `kubectl create secret docker-registry` makes it.
func (b *bed) pullSecret(ns, name string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(b.private.user + ":" + b.private.password))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		b.private.host: map[string]string{"username": b.private.user, "password": b.private.password, "auth": auth},
	}})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
}

// policies are the cases' ImagePolicies: each selects its namespace by
// label, so none applies to nsApps (which gets the built-in policy).
func (b *bed) policies() []*v1alpha1.ImagePolicy {
	selecting := func(name string) *v1alpha1.ImagePolicy {
		return &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + name},
			Spec: v1alpha1.ImagePolicySpec{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{caseLabel: name},
			}},
		}
	}
	pin := selecting("pin")
	pin.Spec.PinDigests = v1alpha1.PinTagAndDigest
	mirror := selecting("mirror")
	mirror.Spec.Mirrors = []v1alpha1.Mirror{{
		From: v1alpha1.RegistryPrefix(b.public.host + "/shop"),
		To:   v1alpha1.RegistryPrefix(b.public.host + "/" + mirrorPrefix + "/shop"),
	}}
	affinity := selecting("affinity")
	affinity.Spec.PlatformAffinity = true
	// The CRD cannot check a selector's operator; Compile can, so this
	// policy is stored and must report Ready=False.
	invalid := selecting("invalid")
	invalid.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: caseLabel, Operator: "Sometimes", Values: []string{"invalid"}},
	}}
	return []*v1alpha1.ImagePolicy{pin, mirror, affinity, invalid}
}

// startServe runs `pullguard serve` against the bed with a serving
// certificate for 127.0.0.1 and waits for /readyz (caches synced, webhook
// server started).
func (b *bed) startServe(ctx context.Context, bin string) error {
	certDir := filepath.Join(b.dir, "serving-certs")
	if err := b.ca.serving(certDir, "tls.crt", "tls.key", 2); err != nil {
		return err
	}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	b.webhookPort = ports[0]
	probes := fmt.Sprintf("127.0.0.1:%d", ports[2])
	var err error
	b.serve, err = start("pullguard serve", filepath.Join(b.dir, "pullguard.log"), nil, bin, "serve",
		"--kubeconfig", b.kubeconfig,
		"--cert-dir", certDir,
		"--port", strconv.Itoa(ports[0]),
		"--registry-ca-file", b.ca.pemPath,
		"--allow-loopback-registries",
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--health-probe-bind-address", probes,
		"--zap-log-level", "debug",
	)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, b.serve, &http.Client{Timeout: 2 * time.Second}, "http://"+probes+"/readyz", 60*time.Second, http.StatusOK); err != nil {
		return fmt.Errorf("pullguard serve /readyz: %w", err)
	}
	return nil
}

// registerWebhooks installs the configurations the chart installs (from the
// same functions) and waits until the validating webhook answers: with
// failurePolicy Ignore, an unreachable webhook would silently admit.
func (b *bed) registerWebhooks(ctx context.Context) error {
	opts := webhook.ConfigOptions{
		URL:            fmt.Sprintf("https://127.0.0.1:%d", b.webhookPort),
		CABundle:       b.ca.pem,
		TimeoutSeconds: 10,
	}
	if err := b.client.Create(ctx, webhook.MutatingConfiguration(opts)); err != nil {
		return fmt.Errorf("mutating configuration: %w", err)
	}
	if err := b.client.Create(ctx, webhook.ValidatingConfiguration(opts)); err != nil {
		return fmt.Errorf("validating configuration: %w", err)
	}
	probe := pod("probe", nsApps, b.public.host+"/"+repoAPI) // no tag: denied by the built-in policy
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "denied the request") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook never denied the probe pod (last answer: %v)", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func pod(name, ns, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

// closedAddress is a loopback address nothing listens on: a registry that
// is down.
func closedAddress() (string, error) {
	p, err := freePort()
	return fmt.Sprintf("127.0.0.1:%d", p), err
}

// hanging is a listener that accepts connections and never answers: a
// registry that hangs.
type hanging struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newHanging() (*hanging, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hanging{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

func (h *hanging) addr() string { return h.ln.Addr().String() }

func (h *hanging) close() {
	if h == nil {
		return
	}
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

func randomPassword() string {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
