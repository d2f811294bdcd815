#!/usr/bin/env bash
# env.sh prints `export` lines for the test bed's binaries, for
#   eval "$(test/testbed/env.sh)"
# in a shell or CI, and for the Makefile. Tests read these variables and skip
# when they are unset, so a missing binary is reported on stderr but is not an
# error unless --strict is given.
#
#   KUBEBUILDER_ASSETS          kube-apiserver, etcd and kubectl for envtest
#   PULLGUARD_KUBE_APISERVER, PULLGUARD_KUBECTL, PULLGUARD_ETCD,
#   PULLGUARD_REGISTRY, PULLGUARD_CRANE
#                               each binary's path
#   PULLGUARD_KUBELET, PULLGUARD_KUBE_CONTROLLER_MANAGER, PULLGUARD_KUBE_SCHEDULER,
#   PULLGUARD_CONTAINERD, PULLGUARD_CONTAINERD_SHIM, PULLGUARD_CTR, PULLGUARD_RUNC
#                               the real node's (optional: tests without them
#                               skip the real node and say so, --strict too)
#   PULLGUARD_TESTBED           the cache directory holding all of them
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/layout.sh
source "$here/layout.sh"

strict=false
case ${1:-} in
--strict) strict=true ;;
"") ;;
*)
	echo "usage: env.sh [--strict]" >&2
	exit 2
	;;
esac

missing=0
# put NAME PATH: prints the export if PATH is executable.
put() {
	if [[ -x $2 ]]; then
		printf 'export %s=%q\n' "$1" "$2"
	else
		echo "env.sh: $2 missing; run test/testbed/build.sh" >&2
		missing=1
	fi
}

printf 'export PULLGUARD_TESTBED=%q\n' "$TESTBED_ROOT"
put PULLGUARD_KUBE_APISERVER "$KUBERNETES_DIR/kube-apiserver"
put PULLGUARD_KUBECTL "$KUBERNETES_DIR/kubectl"
put PULLGUARD_ETCD "$ETCD_DIR/etcd"
put PULLGUARD_CRANE "$CRANE_DIR/crane"
if bin=$(registry_bin); then
	put PULLGUARD_REGISTRY "$bin"
else
	echo "env.sh: no registry binary in $REGISTRY_DIR or $REGISTRY_DEBIAN_DIR; run test/testbed/build.sh" >&2
	missing=1
fi
if [[ -x $ASSETS_DIR/kube-apiserver && -x $ASSETS_DIR/etcd && -x $ASSETS_DIR/kubectl ]]; then
	printf 'export KUBEBUILDER_ASSETS=%q\n' "$ASSETS_DIR"
else
	echo "env.sh: $ASSETS_DIR incomplete; run test/testbed/build.sh" >&2
	missing=1
fi

# The real node's binaries are optional, so they never fail --strict.
node_missing=()
# node NAME PATH: prints the export if PATH is executable.
node() {
	if [[ -x $2 ]]; then
		printf 'export %s=%q\n' "$1" "$2"
	else
		node_missing+=("$2")
	fi
}
node PULLGUARD_KUBELET "$KUBERNETES_DIR/kubelet"
node PULLGUARD_KUBE_CONTROLLER_MANAGER "$KUBERNETES_DIR/kube-controller-manager"
node PULLGUARD_KUBE_SCHEDULER "$KUBERNETES_DIR/kube-scheduler"
node PULLGUARD_CONTAINERD "$CONTAINERD_DIR/containerd"
node PULLGUARD_CONTAINERD_SHIM "$CONTAINERD_DIR/containerd-shim-runc-v2"
node PULLGUARD_CTR "$CONTAINERD_DIR/ctr"
node PULLGUARD_RUNC "$RUNC_DIR/runc"
if [[ ${#node_missing[@]} -gt 0 ]]; then
	echo "env.sh: no real node (${node_missing[*]} missing; run test/testbed/build.sh)" >&2
fi

if $strict && [[ $missing -ne 0 ]]; then exit 1; fi
