package certs

import (
	"bytes"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// eventually polls cond for up to ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRunnable runs NewRunnable until the test ends.
func startRunnable(t *testing.T, c client.Client, o Options) {
	t.Helper()
	r := NewRunnable(c, o)
	if r.(manager.LeaderElectionRunnable).NeedLeaderElection() {
		t.Error("the runnable needs leader election; every replica must write its own files")
	}
	done := make(chan error, 1)
	go func() { done <- r.Start(t.Context()) }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Start did not return after the context ended")
		}
	})
}

func TestRunnableFollowsChanges(t *testing.T) {
	t.Parallel()
	c, _ := newClient(configurations()...)
	o := testOptions(t, nil)
	// An interval far beyond the test: only the watches can trigger the
	// checks after the first one.
	o.CheckInterval = time.Hour
	startRunnable(t, c, o)
	eventually(t, "the secret and files exist", func() bool {
		cert, _ := readFilesQuiet(o.CertDir)
		return cert != nil
	})
	s := getSecret(t, c)

	// `helm upgrade` resets the caBundle: it is patched back.
	obj := configurations()[0]
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	clientConfigs(obj)[0].CABundle = nil
	if err := c.Update(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the caBundle is patched back", func() bool { return bundlesAre(t, c, s.Data["ca.crt"]) })

	// Another replica renews the serving certificate: the files follow.
	renewed := s.DeepCopy()
	delete(renewed.Data, "tls.crt")
	if err := c.Update(t.Context(), renewed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the files follow the secret", func() bool {
		cert, _ := readFilesQuiet(o.CertDir)
		now := getSecret(t, c).Data["tls.crt"]
		return len(now) > 0 && !bytes.Equal(now, s.Data["tls.crt"]) && bytes.Equal(cert, now)
	})
}

func TestRunnableRejectsInvalidOptions(t *testing.T) {
	t.Parallel()
	c, _ := newClient()
	if err := NewRunnable(c, Options{}).Start(t.Context()); err == nil {
		t.Error("Start with empty options succeeded")
	}
}
