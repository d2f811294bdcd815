package cluster_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/webhook"
)

// The view is what the webhook's handlers take.
var _ webhook.ClusterView = (*cluster.View)(nil)

// fakeReader is controller-runtime's in-memory client holding copies of
// objs: the fake tracker writes the resourceVersion into the objects it is
// given, and parallel tests share them.
func fakeReader(objs ...client.Object) client.Reader {
	copies := make([]client.Object, len(objs))
	for i, o := range objs {
		copies[i] = o.DeepCopyObject().(client.Object)
	}
	return fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithObjects(copies...).Build()
}

func newView(t *testing.T, reader client.Reader, opts cluster.Options) *cluster.View {
	t.Helper()
	v, err := cluster.New(reader, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// dockerConfigJSON is a kubernetes.io/dockerconfigjson payload giving user
// (with a password derived from it) for each host.
func dockerConfigJSON(t *testing.T, users map[string]string) []byte {
	t.Helper()
	auths := map[string]map[string]string{}
	for host, user := range users {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":pw-" + user))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dockercfg is the legacy kubernetes.io/dockercfg payload: hosts at the top.
func dockercfg(t *testing.T, users map[string]string) []byte {
	t.Helper()
	top := map[string]map[string]string{}
	for host, user := range users {
		top[host] = map[string]string{"username": user, "password": "pw-" + user}
	}
	b, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pullSecret(ns, name string, data []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: data},
	}
}

func serviceAccount(ns, name string, secrets ...string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, s := range secrets {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return sa
}

// swapReader serves from a reader the test may replace, to show what the
// view memoises across calls.
type swapReader struct {
	mu    sync.Mutex
	inner client.Reader
}

func (s *swapReader) set(r client.Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inner = r
}

func (s *swapReader) get() client.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner
}

func (s *swapReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return s.get().Get(ctx, key, obj, opts...)
}

func (s *swapReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return s.get().List(ctx, list, opts...)
}
