# shellcheck shell=bash
# throwaway.sh is sourced by hack/image.sh and hack/release.sh: what both need
# to build pullguard's image with ko on a machine that reaches no public
# registry.
#
#   throwaway_registry WORK  starts a private registry (distribution, htpasswd
#       auth, TLS from its own CA; test/testbed/registry.sh) under WORK/registry
#       (the caller stops it with stop_throwaway_registry WORK), and exports
#       PULLGUARD_REGISTRY_HOST, DOCKER_CONFIG (its credentials, which ko and
#       hack/baseimage read) and SSL_CERT_FILE (the system's CAs and its own,
#       for those Go programs).
#   standin_base REPO PLATFORMS  builds hack/baseimage's stand-in for distroless
#       static nonroot (the nonroot user, the build machine's CA bundle,
#       nsswitch.conf and /tmp, what a static Go binary uses of distroless),
#       pushes it to REPO/base:static-nonroot and exports KO_DEFAULTBASEIMAGE.
#
# The caller sets root (the repository) before sourcing.

throwaway_registry() {
	local work=$1
	"$root/test/testbed/build.sh" registry >&2
	eval "$("$root/test/testbed/registry.sh" start "$work/registry")"
	export DOCKER_CONFIG="$work/docker"
	mkdir -p "$DOCKER_CONFIG"
	local auth
	auth=$(printf '%s:%s' "$PULLGUARD_REGISTRY_USER" "$PULLGUARD_REGISTRY_PASSWORD" | base64 -w0)
	(umask 077 && printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$PULLGUARD_REGISTRY_HOST" "$auth" >"$DOCKER_CONFIG/config.json")
	cat /etc/ssl/certs/ca-certificates.crt "$PULLGUARD_REGISTRY_CA" >"$work/roots.pem"
	export SSL_CERT_FILE="$work/roots.pem"
}

stop_throwaway_registry() {
	if [[ -d $1/registry ]]; then
		"$root/test/testbed/registry.sh" stop "$1/registry" >&2 || true
	fi
}

standin_base() {
	KO_DEFAULTBASEIMAGE=$(cd "$root" && go run ./hack/baseimage --ref "$1/base:static-nonroot" \
		--ca-bundle /etc/ssl/certs/ca-certificates.crt --platform "$2")
	export KO_DEFAULTBASEIMAGE
}
