#!/usr/bin/env bash
# build.sh builds the binaries pullguard's envtest and end-to-end tests run
# against — kube-apiserver, kubectl, etcd, distribution's registry and crane —
# pinned in versions.env, from the Go module proxy only, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/pullguard/testbed/<name>-<version>/.
#
# Usage: build.sh [kubernetes|etcd|registry|crane ...]   (default: all)
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

have_kubernetes() {
	reports "$KUBERNETES_VERSION" "$KUBERNETES_DIR/kube-apiserver" --version &&
		reports "Client Version: $KUBERNETES_VERSION" "$KUBERNETES_DIR/kubectl" version --client
}

build_kubernetes() {
	if have_kubernetes; then
		log "kube-apiserver and kubectl $KUBERNETES_VERSION already in $KUBERNETES_DIR"
		return
	fi
	local mod="k8s.io/kubernetes@$KUBERNETES_VERSION" dir="$BUILD_DIR/kubernetes-$KUBERNETES_VERSION"
	local gomod info staging major minor date ld pkg out
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

	scratch kubernetes
	out=$SCRATCH
	(cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
	promote "$out" "$KUBERNETES_DIR"
	have_kubernetes || die "built kube-apiserver/kubectl do not report $KUBERNETES_VERSION"
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

# link_assets gathers what envtest's BinaryAssetsDirectory wants in one
# directory; relative links keep the cache relocatable.
link_assets() {
	mkdir -p "$ASSETS_DIR"
	ln -sfn "../kubernetes-$KUBERNETES_VERSION/kube-apiserver" "$ASSETS_DIR/kube-apiserver"
	ln -sfn "../kubernetes-$KUBERNETES_VERSION/kubectl" "$ASSETS_DIR/kubectl"
	ln -sfn "../etcd-$ETCD_VERSION/etcd" "$ASSETS_DIR/etcd"
}

main() {
	local parts=("$@") part
	if [[ ${#parts[@]} -eq 0 ]]; then parts=(crane etcd registry kubernetes); fi
	for part in "${parts[@]}"; do
		case $part in
		kubernetes | etcd | registry | crane) ;;
		*) die "unknown part $(printf '%q' "$part") (want kubernetes, etcd, registry or crane)" ;;
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

	log "building into $TESTBED_ROOT with $(go version) from $GOPROXY"
	for part in "${parts[@]}"; do
		step "$part" "build_$part"
	done
	if [[ -x $KUBERNETES_DIR/kube-apiserver && -x $ETCD_DIR/etcd ]]; then
		link_assets
		log "done; KUBEBUILDER_ASSETS=$ASSETS_DIR"
		echo "$ASSETS_DIR"
	else
		log "done (kube-apiserver or etcd not built: no KUBEBUILDER_ASSETS yet)"
	fi
}

main "$@"
