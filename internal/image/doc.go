// Package image is pullguard's pure vocabulary of container images: references
// parsed exactly as the kubelet and containerd parse them
// (github.com/distribution/reference's ParseNormalizedNamed), the canonical
// spelling of a registry host, the written forms used for rewrites and
// messages, the finding classes, what a registry said about an image, what
// containerd does with it on a node of a given platform (github.com/containerd/platforms,
// as containerd v2.4.2 uses it: platform.go), and pull policies as the API
// server defaults them and the names a node stores images under.
//
// It does no I/O and imports no other pullguard package, so the policy core
// (policies) and the network code (resolve) share one vocabulary without the
// core depending on the network.
package image
