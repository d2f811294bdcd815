// Package image is pullguard's pure vocabulary of container images: references
// parsed exactly as the kubelet and containerd parse them
// (github.com/distribution/reference's ParseNormalizedNamed), the canonical
// spelling of a registry host, the written forms used for rewrites and
// messages, the finding classes, and what a registry said about an image.
//
// It does no I/O and imports no other pullguard package, so the policy core
// (policies) and the network code (resolve) share one vocabulary without the
// core depending on the network.
package image
