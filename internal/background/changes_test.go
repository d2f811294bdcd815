package background_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/background"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// TestWatcherChecksChanges: with an interval far away, a change of a
// workload's images, of a service account's pull secrets, and a deletion
// are each checked within seconds, from the informers' notifications.
func TestWatcherChecksChanges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorld(t, namespace("shop", nil), serviceAccount("shop"))
	private := registrytest.New(t, registrytest.WithBasicAuth("bot", "pw"))
	private.PushImage(t, "shop/api:v1", amd64)
	w.reg.PushImage(t, "shop/web:v2", amd64)
	web := deployment("shop", "web", w.reg.Ref("shop/web:v1")) // not pushed
	api := deployment("shop", "api", private.Ref("shop/api:v1"))
	for _, o := range []client.Object{web, api} {
		if err := w.client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	informers := &informertest.FakeInformers{Scheme: scheme(t)}
	watcher := background.New(background.Options{
		Checker: w.checker(1000), Reader: w.client, Informers: informers, Reports: w.client,
		Events: &events{}, Interval: time.Hour, Log: logr.Discard(),
	})
	done := make(chan error, 1)
	go func() { done <- watcher.Start(ctx) }()
	expect := func(what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := results(w.report(t, "shop"))
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: report %q, want %q", what, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect("first cycle", "Deployment/api c0 fail Unauthorized", "Deployment/web c0 fail NotFound")

	// The Deployment's image changes to one that exists.
	old := web.DeepCopy()
	if err := w.client.Get(ctx, client.ObjectKeyFromObject(web), web); err != nil {
		t.Fatal(err)
	}
	web.Spec.Template.Spec.Containers[0].Image = w.reg.Ref("shop/web:v2")
	if err := w.client.Update(ctx, web); err != nil {
		t.Fatal(err)
	}
	fakeInformer(t, informers, web).Update(old, web)
	expect("image changed", "Deployment/api c0 fail Unauthorized", "Deployment/web c0 pass ImagePullable")

	// The namespace's service account gets a pull secret for the private registry.
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: private.DockerConfig()},
	}
	if err := w.client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{}
	if err := w.client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "default"}, sa); err != nil {
		t.Fatal(err)
	}
	before := sa.DeepCopy()
	sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	if err := w.client.Update(ctx, sa); err != nil {
		t.Fatal(err)
	}
	fakeInformer(t, informers, sa).Update(before, sa)
	expect("pull secret added", "Deployment/api c0 pass ImagePullable", "Deployment/web c0 pass ImagePullable")

	// The Deployment goes.
	if err := w.client.Delete(ctx, api); err != nil {
		t.Fatal(err)
	}
	fakeInformer(t, informers, api).Delete(api)
	expect("deleted", "Deployment/web c0 pass ImagePullable")

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func fakeInformer(t *testing.T, informers *informertest.FakeInformers, obj client.Object) interface {
	Update(oldObj, newObj metav1.Object)
	Delete(obj metav1.Object)
} {
	t.Helper()
	i, err := informers.FakeInformerFor(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	return i
}
