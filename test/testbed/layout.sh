# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this
# Where the test bed's binaries live: sourced by build.sh, env.sh and
# registry.sh so the three agree on one layout. Not meant to be run.
#
# ${XDG_CACHE_HOME:-$HOME/.cache}/pullguard/testbed/
#   kubernetes-<v>/{kube-apiserver,kubectl,kubelet,kube-controller-manager,kube-scheduler}
#   etcd-<v>/etcd
#   registry-<v>/registry          (or registry-debian/registry, a link to
#                                   Debian's docker-registry, when the build fails)
#   crane-<v>/crane
#   containerd-<v>/{containerd,containerd-shim-runc-v2,ctr}
#   runc-<v>/runc
#   envtest-<k8s v>-etcd-<etcd v>/ links to the three binaries envtest wants
#   build/                         wrapper modules (kept so go.sum is reused)

# shellcheck source=SCRIPTDIR/versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"

TESTBED_ROOT="${PULLGUARD_TESTBED_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/pullguard/testbed}"
KUBERNETES_DIR="$TESTBED_ROOT/kubernetes-$KUBERNETES_VERSION"
ETCD_DIR="$TESTBED_ROOT/etcd-$ETCD_VERSION"
REGISTRY_DIR="$TESTBED_ROOT/registry-$REGISTRY_VERSION"
REGISTRY_DEBIAN_DIR="$TESTBED_ROOT/registry-debian"
CRANE_DIR="$TESTBED_ROOT/crane-$CRANE_VERSION"
CONTAINERD_DIR="$TESTBED_ROOT/containerd-$CONTAINERD_VERSION"
RUNC_DIR="$TESTBED_ROOT/runc-$RUNC_VERSION"
# The commands built from k8s.io/kubernetes, in one `go build` so they share
# compiled packages; the first two are what envtest and the bed always need,
# the other three run the bed's real node.
KUBERNETES_COMMANDS=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler)
ASSETS_DIR="$TESTBED_ROOT/envtest-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
BUILD_DIR="$TESTBED_ROOT/build"

# registry_bin prints the registry binary to use: the one built from
# distribution if present, otherwise the Debian fallback.
registry_bin() {
	if [[ -x "$REGISTRY_DIR/registry" ]]; then
		echo "$REGISTRY_DIR/registry"
	elif [[ -x "$REGISTRY_DEBIAN_DIR/registry" ]]; then
		echo "$REGISTRY_DEBIAN_DIR/registry"
	else
		return 1
	fi
}
