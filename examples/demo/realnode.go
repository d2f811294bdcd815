package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pullguard/pullguard/test/bed"
)

// unprotectedNamespace is where the real-node demo runs a pod pullguard
// never sees (bed.CreateUnguardedNamespace).
const unprotectedNamespace = "unprotected"

// backOffTimeout bounds the wait for the unprotected pod's pull to fail
// (REALNODE.md: 1-3 s).
const backOffTimeout = time.Minute

// sideBySide applies one pod with a tag that does not exist twice: where
// pullguard does not look, the real node pulls and ends in ErrImagePull /
// ImagePullBackOff; in "default", pullguard refuses it at kubectl apply.
func sideBySide(ctx context.Context, k bed.Kubectl, st state, out io.Writer) error {
	image := st.Vars["REGISTRY"] + "/shop/checkout:v9-does-not-exist"
	podYAML := func(ns string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: checkout, namespace: %s}
spec:
  nodeName: %s
  hostNetwork: true
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - {name: checkout, image: %q}
`, ns, st.RealNode, image)
	}
	run := func(stdin string, args ...string) (bed.Result, error) {
		fmt.Fprintf(out, "\n$ kubectl %s\n", strings.Join(args, " "))
		r, err := k.Run(ctx, stdin, args...)
		if err == nil {
			fmt.Fprint(out, r.Output())
		}
		return r, err
	}
	fmt.Fprintf(out, "\n# The same pod twice on the real node %s. In namespace %q pullguard does not look:\n", st.RealNode, unprotectedNamespace)
	if r, err := run(podYAML(unprotectedNamespace), "apply", "-f", "-"); err != nil || r.Code != 0 {
		return fmt.Errorf("the unprotected pod was not created: %v\n%s", err, r)
	}
	deadline := time.Now().Add(backOffTimeout)
	var reason string
	for time.Now().Before(deadline) {
		r, err := k.Run(ctx, "", "get", "pod", "checkout", "-n", unprotectedNamespace, "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
		if err == nil && (r.Stdout == "ErrImagePull" || r.Stdout == "ImagePullBackOff") {
			reason = r.Stdout
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := run("", "get", "pod", "checkout", "-n", unprotectedNamespace); err != nil {
		return err
	}
	if _, err := run("", "get", "events", "-n", unprotectedNamespace, "--field-selector", "involvedObject.name=checkout,reason=Failed"); err != nil {
		return err
	}
	if reason == "" {
		return fmt.Errorf("the unprotected pod did not fail to pull within %s", backOffTimeout)
	}
	fmt.Fprintln(out, "\n# In namespace \"default\" pullguard refuses it before it is stored:")
	r, err := run(podYAML("default"), "apply", "-f", "-")
	if err != nil {
		return err
	}
	if r.Code == 0 || !strings.Contains(r.Output(), "denied the request") {
		return fmt.Errorf("pullguard did not refuse the pod the real node cannot pull:\n%s", r)
	}
	return nil
}
