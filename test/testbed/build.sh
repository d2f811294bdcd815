#!/usr/bin/env bash
# build.sh builds the binaries pullguard's envtest and end-to-end tests run
# against — kube-apiserver, kubectl, etcd, distribution's registry and crane,
# and for the optional real node kubelet, kube-controller-manager,
# kube-scheduler, containerd (+ shim, ctr) and runc —
# pinned in versions.env, from the Go module proxy only, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/pullguard/testbed/<name>-<version>/.
#
# Usage: build.sh [kubernetes|etcd|registry|crane|containerd|runc ...]   (default: all)
#
# Idempotent: a part whose binaries exist and report the pinned version is
# skipped, so `make testbed` costs nothing the second time. Each part is built
# in a temporary directory and moved into place only when complete, so an
# interrupted build never looks finished.
#
# No release tarballs: this machine reaches only the module proxy (and
# Debian's archive), so everything is compiled, which takes ~10-15 minutes on
# 2 cores the first time (see README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/layout.sh
source "$here/layout.sh"

# Only the proxy, never git; a toolchain download would also need more than
# the proxy, so use the local Go. GOFLAGS is set per command (go install
# pkg@version rejects -mod=mod).
# The proxy is the environment's (go env GOPROXY) with ",direct" and ",off"
# dropped, so a module the proxy lacks fails fast instead of trying git.
GOPROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -v -x -e direct -e off | paste -sd, -)
[[ -n $GOPROXY ]] || { echo "build.sh: go env GOPROXY names no proxy" >&2; exit 1; }
export GOPROXY GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
unset GOFLAGS
# distribution's registry traces to an OTLP collector by default.
export OTEL_TRACES_EXPORTER=none

started=$(date +%s)
tmpdirs=()
cleanup() {
	local d
	for d in "${tmpdirs[@]+"${tmpdirs[@]}"}"; do rm -rf "$d"; done
}
trap cleanup EXIT

dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
log() { printf '[testbed %s] %s\n' "$(dur $(($(date +%s) - started)))" "$*"; }
die() {
	log "error: $*" >&2
	exit 1
}

# step NAME FUNC: runs FUNC and prints how long it took.
step() {
	local name=$1 fn=$2 t0
	t0=$(date +%s)
	log "==> $name"
	"$fn"
	log "<== $name: $(dur $(($(date +%s) - t0)))"
}

# reports EXPECT CMD...: CMD exists, runs, and its output contains EXPECT.
reports() {
	local expect=$1 out
	shift
	[[ -x $1 ]] || return 1
	out=$(timeout 60 "$@" 2>&1) || return 1
	[[ $out == *"$expect"* ]]
}

# scratch NAME: sets SCRATCH to a fresh directory on the cache's file system,
# removed on exit unless it was moved into place. (A global, not output, so
# the cleanup list is not lost in a command substitution's subshell.)
scratch() {
	SCRATCH=$(mktemp -d "$TESTBED_ROOT/.tmp-$1.XXXXXX")
	tmpdirs+=("$SCRATCH")
	# mktemp makes it 0700; CI jobs under other users read it too.
	chmod 755 "$SCRATCH"
}

# promote TMP FINAL: replaces FINAL with the completed TMP.
promote() {
	rm -rf "$2.old"
	if [[ -e $2 ]]; then mv "$2" "$2.old"; fi
	mv "$1" "$2"
	rm -rf "$2.old"
}

# wrapper_module DIR MODULE VERSION: a module in DIR that requires MODULE, so
# a main package of MODULE (which `go install pkg@version` refuses when
# MODULE's go.mod has replace directives) can be built from the proxy.
wrapper_module() {
	local dir=$1
	mkdir -p "$dir"
	if [[ ! -f $dir/go.mod ]]; then
		printf 'module pullguard.test/testbed/%s\n\ngo 1.26.0\n' "$(basename "$dir")" >"$dir/go.mod"
	fi
	(cd "$dir" && go mod edit -require="$2@$3")
}

# module_file MODULE@VERSION FIELD: a file go mod download reports (GoMod, Info).
module_file() {
	(cd "$BUILD_DIR" && go mod download -json "$1") | jq -er ".$2"
}

# kubernetes_reports CMD: the built CMD reports KUBERNETES_VERSION.
kubernetes_reports() {
	case $1 in
	kubectl) reports "Client Version: $KUBERNETES_VERSION" "$KUBERNETES_DIR/kubectl" version --client ;;
	*) reports "Kubernetes $KUBERNETES_VERSION" "$KUBERNETES_DIR/$1" --version ;;
	esac
}

# missing_kubernetes prints the KUBERNETES_COMMANDS not yet built, one a line.
missing_kubernetes() {
	local cmd
	for cmd in "${kubernetes_commands[@]}"; do
		kubernetes_reports "$cmd" || echo "$cmd"
	done
}

build_kubernetes() {
	local missing
	missing=$(missing_kubernetes)
	if [[ -z $missing ]]; then
		log "${kubernetes_commands[*]} $KUBERNETES_VERSION already in $KUBERNETES_DIR"
		return
	fi
	local mod="k8s.io/kubernetes@$KUBERNETES_VERSION" dir="$BUILD_DIR/kubernetes-$KUBERNETES_VERSION"
	local gomod info staging major minor date ld pkg out cmd
	gomod=$(module_file "$mod" GoMod)
	info=$(module_file "$mod" Info)
	wrapper_module "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION"

	# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
	# them with ./staging/...; replaces in a dependency are ignored, so point
	# each at its published version. The list comes from kubernetes' go.mod.
	staging=$(go mod edit -json "$gomod" | jq -r '.Replace[]
		| select((.Old.Path | startswith("k8s.io/")) and (.New.Path | startswith("./staging/")))
		| .Old.Path')
	[[ -n $staging ]] || die "no ./staging replaces found in $gomod"
	log "replacing $(wc -l <<<"$staging") staging modules with $KUBERNETES_STAGING_VERSION"
	local args=()
	while read -r pkg; do args+=("-replace=$pkg=$pkg@$KUBERNETES_STAGING_VERSION"); done <<<"$staging"
	(cd "$dir" && go mod edit "${args[@]}")

	# Stamp the version, or the binaries report v0.0.0-master and kubectl
	# warns about skew. buildDate is the tag's time, so builds are reproducible.
	major=${KUBERNETES_VERSION#v}
	major=${major%%.*}
	minor=${KUBERNETES_VERSION#v*.}
	minor=${minor%%.*}
	date=$(jq -er .Time "$info")
	ld="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitCommit=$KUBERNETES_GIT_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
	done

	# Only the missing commands, all in one `go build`: the packages they
	# share compile once, and a cache that already holds kube-apiserver
	# gains the node's three without relinking the first two.
	local pkgs=()
	while read -r cmd; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done <<<"$missing"
	log "building $(tr '\n' ' ' <<<"$missing")"
	scratch kubernetes
	out=$SCRATCH
	(cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out/" "${pkgs[@]}")
	mkdir -p "$KUBERNETES_DIR"
	while read -r cmd; do mv -f "$out/$cmd" "$KUBERNETES_DIR/$cmd"; done <<<"$missing"
	missing=$(missing_kubernetes)
	[[ -z $missing ]] || die "built $(tr '\n' ' ' <<<"$missing")do not report $KUBERNETES_VERSION"
	log "$("$KUBERNETES_DIR/kube-apiserver" --version); kubectl: $("$KUBERNETES_DIR/kubectl" version --client | head -1)"
}

have_etcd() { reports "etcd Version: ${ETCD_VERSION#v}" "$ETCD_DIR/etcd" --version; }

build_etcd() {
	if have_etcd; then
		log "etcd $ETCD_VERSION already in $ETCD_DIR"
		return
	fi
	local dir="$BUILD_DIR/etcd-$ETCD_VERSION" out
	wrapper_module "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
	scratch etcd
	out=$SCRATCH
	(cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
	promote "$out" "$ETCD_DIR"
	have_etcd || die "built etcd does not report $ETCD_VERSION"
	log "$("$ETCD_DIR/etcd" --version | head -1)"
}

have_registry() { reports "$REGISTRY_VERSION" "$REGISTRY_DIR/registry" --version; }

# registry_from_proxy returns non-zero instead of exiting, so build_registry
# can fall back (set -e does not apply inside an `if` condition).
registry_from_proxy() {
	local out
	scratch registry || return 1
	out=$SCRATCH
	GOBIN="$out" go install -trimpath \
		-ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" \
		"github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" || return 1
	promote "$out" "$REGISTRY_DIR" || return 1
	have_registry
}

# registry_from_debian links Debian's docker-registry (2.8, same config
# format and htpasswd/TLS support) where registry.sh looks for it.
registry_from_debian() {
	local sudo=() bin
	if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
	if ! bin=$(command -v docker-registry); then
		log "installing Debian's docker-registry with apt-get"
		"${sudo[@]}" apt-get install -y --no-install-recommends docker-registry ||
			{ "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends docker-registry; }
		bin=$(command -v docker-registry)
	fi
	mkdir -p "$REGISTRY_DEBIAN_DIR"
	ln -sfn "$bin" "$REGISTRY_DEBIAN_DIR/registry"
	log "using Debian's docker-registry: $("$bin" --version)"
}

build_registry() {
	if have_registry; then
		log "registry $REGISTRY_VERSION already in $REGISTRY_DIR"
		return
	fi
	if registry_from_proxy; then
		log "using distribution's registry from the proxy: $("$REGISTRY_DIR/registry" --version)"
		return
	fi
	log "building distribution's registry $REGISTRY_VERSION failed; falling back to Debian's docker-registry"
	registry_from_debian
}

have_crane() { reports "${CRANE_VERSION#v}" "$CRANE_DIR/crane" version; }

build_crane() {
	if have_crane; then
		log "crane $CRANE_VERSION already in $CRANE_DIR"
		return
	fi
	local out
	scratch crane
	out=$SCRATCH
	GOBIN="$out" go install -trimpath -ldflags "-s -w" \
		"github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
	promote "$out" "$CRANE_DIR"
	have_crane || die "built crane does not report $CRANE_VERSION"
	log "crane $("$CRANE_DIR/crane" version)"
}

have_containerd() {
	reports "$CONTAINERD_VERSION" "$CONTAINERD_DIR/containerd" --version &&
		reports "$CONTAINERD_VERSION" "$CONTAINERD_DIR/ctr" --version &&
		[[ -x $CONTAINERD_DIR/containerd-shim-runc-v2 ]]
}

build_containerd() {
	if have_containerd; then
		log "containerd $CONTAINERD_VERSION already in $CONTAINERD_DIR"
		return
	fi
	local dir="$BUILD_DIR/containerd-$CONTAINERD_VERSION" out m=github.com/containerd/containerd/v2
	wrapper_module "$dir" "$m" "$CONTAINERD_VERSION"
	scratch containerd
	out=$SCRATCH
	# The overlayfs snapshotter is all the node uses; the others need cgo.
	(cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -tags "no_btrfs no_devmapper no_zfs" \
		-ldflags "-s -w -X $m/version.Version=$CONTAINERD_VERSION" -o "$out/" \
		"$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2" "$m/cmd/ctr")
	promote "$out" "$CONTAINERD_DIR"
	have_containerd || die "built containerd does not report $CONTAINERD_VERSION"
	log "$("$CONTAINERD_DIR/containerd" --version)"
}

have_runc() { reports "runc version ${RUNC_VERSION#v}" "$RUNC_DIR/runc" --version; }

# seccomp_headers installs libseccomp-dev (runc's seccomp support is cgo)
# when pkg-config does not find it.
seccomp_headers() {
	pkg-config --exists libseccomp 2>/dev/null && return
	local sudo=()
	if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
	log "installing libseccomp-dev with apt-get (runc links libseccomp)"
	"${sudo[@]}" apt-get install -y --no-install-recommends libseccomp-dev pkg-config ||
		{ "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends libseccomp-dev pkg-config; }
}

build_runc() {
	if have_runc; then
		log "runc $RUNC_VERSION already in $RUNC_DIR"
		return
	fi
	command -v gcc >/dev/null || die "runc needs a C compiler (cgo, for nsenter): apt-get install gcc"
	seccomp_headers
	local dir="$BUILD_DIR/runc-$RUNC_VERSION" out
	wrapper_module "$dir" github.com/opencontainers/runc "$RUNC_VERSION"
	scratch runc
	out=$SCRATCH
	# cgo is not optional: runc's nsenter is C that runs before the Go runtime.
	(cd "$dir" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -tags "seccomp urfave_cli_no_docs" \
		-ldflags "-s -w -X main.version=${RUNC_VERSION#v}" -o "$out/runc" github.com/opencontainers/runc)
	promote "$out" "$RUNC_DIR"
	have_runc || die "built runc does not report $RUNC_VERSION"
	log "$("$RUNC_DIR/runc" --version | head -1)"
}

# link_assets gathers what envtest's BinaryAssetsDirectory wants in one
# directory; relative links keep the cache relocatable.
link_assets() {
	mkdir -p "$ASSETS_DIR"
	ln -sfn "../kubernetes-$KUBERNETES_VERSION/kube-apiserver" "$ASSETS_DIR/kube-apiserver"
	ln -sfn "../kubernetes-$KUBERNETES_VERSION/kubectl" "$ASSETS_DIR/kubectl"
	ln -sfn "../etcd-$ETCD_VERSION/etcd" "$ASSETS_DIR/etcd"
}

# run_part PART: build_PART with its output prefixed by the part's name, for
# parts running side by side. Its own EXIT trap removes its scratch dirs.
run_part() {
	local part=$1
	(
		trap cleanup EXIT
		step "$part" "build_$part"
	) 2>&1 | sed -u "s/^/[$part] /"
}

# node_wanted says whether to build the real node's binaries:
# PULLGUARD_TESTBED_NODE=yes or no, or (auto, the default) only as root, the
# one user that can run the node (test/bed's NodeSupport checks the rest).
node_wanted() {
	case ${PULLGUARD_TESTBED_NODE:-auto} in
	yes) return 0 ;;
	no) return 1 ;;
	auto) [[ $EUID -eq 0 ]] ;;
	*) die "PULLGUARD_TESTBED_NODE=${PULLGUARD_TESTBED_NODE}: want yes, no or auto" ;;
	esac
}

main() {
	local parts=("$@") part
	local all=(crane etcd registry kubernetes containerd runc)
	kubernetes_commands=("${KUBERNETES_COMMANDS[@]}")
	if ! node_wanted; then
		log "not building the real node (kubelet, kube-controller-manager, kube-scheduler, containerd, runc): not root, or PULLGUARD_TESTBED_NODE=no; its tests will say they skip"
		all=(crane etcd registry kubernetes)
		kubernetes_commands=(kube-apiserver kubectl)
	fi
	if [[ ${#parts[@]} -eq 0 ]]; then parts=("${all[@]}"); fi
	for part in "${parts[@]}"; do
		case $part in
		kubernetes | etcd | registry | crane | containerd | runc) ;;
		*) die "unknown part $(printf '%q' "$part") (want one of: ${all[*]})" ;;
		esac
	done
	command -v go >/dev/null || die "go not found in PATH"
	command -v jq >/dev/null || die "jq not found (apt-get install jq)"

	mkdir -p "$TESTBED_ROOT" "$BUILD_DIR"
	# Two builds at once (make -j, CI) would race on the same directories.
	exec 9>"$TESTBED_ROOT/.build.lock"
	if ! flock -n 9; then
		log "another build.sh holds $TESTBED_ROOT/.build.lock; waiting"
		flock 9
	fi

	# The parts share nothing but the module and build caches (both safe for
	# concurrent go commands), so they build side by side: downloads of one
	# overlap the compiling of another, and the total is about the longest.
	log "building into $TESTBED_ROOT with $(go version) from $GOPROXY"
	local pids=() failed=()
	for part in "${parts[@]}"; do
		run_part "$part" &
		pids+=($!)
	done
	local i
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || failed+=("${parts[$i]}")
	done
	[[ ${#failed[@]} -eq 0 ]] || die "failed: ${failed[*]}"
	if [[ -x $KUBERNETES_DIR/kube-apiserver && -x $ETCD_DIR/etcd ]]; then
		link_assets
		log "done; KUBEBUILDER_ASSETS=$ASSETS_DIR"
		echo "$ASSETS_DIR"
	else
		log "done (kube-apiserver or etcd not built: no KUBEBUILDER_ASSETS yet)"
	fi
}

main "$@"
