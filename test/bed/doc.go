// Package bed starts pullguard's test bed: a real kube-apiserver and etcd
// (envtest with the binaries test/testbed builds), distribution registries
// with TLS from a throwaway CA (one behind htpasswd auth), the real
// `pullguard serve` binary, the webhook configurations from package webhook,
// Nodes, namespaces and pull secrets, and the real kubectl to drive it.
//
// The end-to-end suite (test/e2e) and the local demo (examples/demo) share
// it, so what the demo shows is what the suite tests. Nothing here takes a
// testing.T: every function returns an error, and Start returns what it
// started even on error so Stop can tear it down.
package bed
