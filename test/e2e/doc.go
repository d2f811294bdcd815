// Package e2e holds pullguard's end-to-end tests, built only with the tag
// "e2e" (make e2e): a real kube-apiserver and etcd (envtest with the test
// bed's binaries), two real distribution registries with TLS (one with
// htpasswd auth), the real `pullguard serve` binary and the real kubectl.
// The bed is started once by TestMain and torn down even when tests fail;
// every case drives kubectl the way a user would and asserts what they read.
// TestChart starts an API server of its own for the Helm chart (helm from
// $PULLGUARD_HELM): it installs the chart's CRDs, dry-runs every render, and
// runs serve as the chart's ServiceAccount to prove its RBAC.
package e2e
