#!/usr/bin/env bash
# verify.sh checks a built test bed end to end: every binary reports its
# pinned version, and the registry from registry.sh accepts a crane push that
# authenticates with htpasswd credentials and trusts only the test bed's CA,
# while refusing anonymous clients. Run it after build.sh (make testbed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/layout.sh
source "$here/layout.sh"
eval "$("$here/env.sh" --strict)"

fail() {
	echo "verify.sh: FAIL: $*" >&2
	exit 1
}
ok() { echo "verify.sh: ok: $*"; }

# expect WANT CMD...: CMD's output contains WANT.
expect() {
	local want=$1 out
	shift
	out=$("$@" 2>&1) || fail "$* exited non-zero: $out"
	[[ $out == *"$want"* ]] || fail "$* printed ${out@Q}, want ${want@Q}"
	ok "$* -> $(head -1 <<<"$out")"
}

expect "Kubernetes $KUBERNETES_VERSION" "$PULLGUARD_KUBE_APISERVER" --version
expect "Client Version: $KUBERNETES_VERSION" "$PULLGUARD_KUBECTL" version --client
expect "etcd Version: ${ETCD_VERSION#v}" "$PULLGUARD_ETCD" --version
expect "${CRANE_VERSION#v}" "$PULLGUARD_CRANE" version
# Either distribution's registry (v3.x) or Debian's fallback.
expect "registry" "$PULLGUARD_REGISTRY" --version
for b in kube-apiserver etcd kubectl; do
	[[ -x $KUBEBUILDER_ASSETS/$b ]] || fail "$KUBEBUILDER_ASSETS/$b missing"
done
ok "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"

work=$(mktemp -d)
cleanup() {
	"$here/registry.sh" stop "$work/registry" || true
	rm -rf "$work"
}
trap cleanup EXIT

eval "$("$here/registry.sh" start "$work/registry")"
host=$PULLGUARD_REGISTRY_HOST
# crane reads credentials from DOCKER_CONFIG and trusts only SSL_CERT_FILE,
# so nothing leaks into or from the user's own configuration.
export DOCKER_CONFIG="$work/docker" SSL_CERT_FILE="$PULLGUARD_REGISTRY_CA"

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PULLGUARD_REGISTRY_CA" "https://$host/v2/")
[[ $code == 401 ]] || fail "anonymous GET /v2/ answered $code, want 401"
ok "anonymous GET /v2/ -> 401"
if "$PULLGUARD_CRANE" catalog "$host" >/dev/null 2>&1; then fail "crane catalog without credentials succeeded"; fi
ok "crane without credentials refused"

"$PULLGUARD_CRANE" auth login "$host" -u "$PULLGUARD_REGISTRY_USER" -p "$PULLGUARD_REGISTRY_PASSWORD" >/dev/null 2>&1 ||
	fail "crane auth login failed"
mkdir -p "$work/layer"
echo "pullguard test bed" >"$work/layer/hello.txt"
tar -C "$work/layer" -cf "$work/layer.tar" hello.txt
ref="$host/pullguard/smoke:v1"
pushed=$("$PULLGUARD_CRANE" append --new_layer "$work/layer.tar" --new_tag "$ref" 2>"$work/append.err") ||
	fail "crane append failed: $(cat "$work/append.err")"
digest=$("$PULLGUARD_CRANE" digest "$ref")
[[ $pushed == *"@$digest" ]] || fail "pushed $pushed but $ref resolves to $digest"
ok "pushed $ref ($digest)"

# Without the CA the same registry must not be trusted.
if SSL_CERT_FILE=/dev/null "$PULLGUARD_CRANE" digest "$ref" >/dev/null 2>&1; then
	fail "crane trusted the registry without its CA"
fi
ok "crane without the CA refused the certificate"
echo "verify.sh: all checks passed"
