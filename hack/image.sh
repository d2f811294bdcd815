#!/usr/bin/env bash
# image.sh is `make image`: build pullguard's image with ko, push it, and have
# pullguard itself check the pushed image, by digest and by tag, for every
# platform it was built for.
#
# KO_DOCKER_REPO names the repository to push to. Without it, a throwaway
# private registry (hack/throwaway.sh) is started under IMAGE_WORK and
# stopped at the end.
#
# The base image: .ko.yaml's defaultBaseImage (distroless static nonroot, by
# digest). Machines that reach no registry but a local one (CI here) cannot
# pull it, so unless KO_DEFAULTBASEIMAGE is given this script builds
# hack/baseimage's stand-in and pushes it next to the image. The binary layer
# ko adds is the same either way.
#
# Environment: KO (the ko binary, required), VERSION (stamped and used as the
# tag, required), COMMIT (stamped; default unknown), PULLGUARD (default bin/pullguard), IMAGE_WORK (default
# bin/image), IMAGE_PLATFORMS (default linux/amd64,linux/arm64).
set -euo pipefail

: "${KO:?KO must name the ko binary}" "${VERSION:?VERSION must be set}"
pullguard=${PULLGUARD:-bin/pullguard}
platforms=${IMAGE_PLATFORMS:-linux/amd64,linux/arm64}
work=${IMAGE_WORK:-bin/image}
mkdir -p "$work"
work=$(cd "$work" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

log() { echo "image.sh: $*" >&2; }

# A tag is what people read; it must never be latest (the chart and
# pullguard's own policy refuse it), and must be a valid tag.
tag=${VERSION//+/_}
if [[ $tag == latest || ! $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
	log "error: VERSION ${VERSION@Q} is not a usable tag"
	exit 1
fi

# shellcheck source=SCRIPTDIR/throwaway.sh
source "$here/throwaway.sh"
docker_config_flag=()
if [[ -z ${KO_DOCKER_REPO:-} ]]; then
	trap 'stop_throwaway_registry "$work"' EXIT
	throwaway_registry "$work"
	export KO_DOCKER_REPO="$PULLGUARD_REGISTRY_HOST/pullguard"
	# pullguard check reads credentials from --docker-config.
	docker_config_flag=(--docker-config "$DOCKER_CONFIG/config.json")
	log "pushing to the throwaway registry $PULLGUARD_REGISTRY_HOST (auth + TLS)"
elif [[ -n ${DOCKER_CONFIG:-} && -f $DOCKER_CONFIG/config.json ]]; then
	docker_config_flag=(--docker-config "$DOCKER_CONFIG/config.json")
fi

if [[ -z ${KO_DEFAULTBASEIMAGE:-} ]]; then
	standin_base "$KO_DOCKER_REPO" "$platforms"
	log "base: $KO_DEFAULTBASEIMAGE (offline stand-in for distroless static nonroot)"
fi

# --bare: push to KO_DOCKER_REPO itself; --tags: never ko's default latest.
export VERSION COMMIT=${COMMIT:-unknown}
image=$("$KO" build ./cmd/pullguard --bare --tags "$tag" --platform "$platforms" --sbom none)
log "pushed $image"
echo "$image" >"$work/image-ref"

# pullguard checks its own image the way the webhook would: the digest
# reference and the tag, for every platform the image claims.
cat >"$work/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: pullguard
  namespace: pullguard-system
spec:
  containers:
    - name: by-digest
      image: $image
    - name: by-tag
      image: $KO_DOCKER_REPO:$tag
YAML
log "pullguard check -f $work/pod.yaml --platform $platforms"
"$pullguard" check -f "$work/pod.yaml" --platform "$platforms" "${docker_config_flag[@]}"

# The control: the same check must deny a tag that was never pushed, or the
# pass above proves nothing (e.g. lookups skipped).
sed "s|image: $KO_DOCKER_REPO:$tag\$|image: $KO_DOCKER_REPO:$tag-never-pushed|" "$work/pod.yaml" >"$work/pod-missing.yaml"
set +e
"$pullguard" check -f "$work/pod-missing.yaml" --platform "$platforms" "${docker_config_flag[@]}" >"$work/missing.out" 2>&1
code=$?
set -e
if [[ $code -ne 1 ]] || ! grep -q "never-pushed" "$work/missing.out"; then
	log "error: pullguard check of a missing tag exited $code, want 1 (denied):"
	cat "$work/missing.out" >&2
	exit 1
fi
log "control: a missing tag is denied: $(grep -m1 never-pushed "$work/missing.out")"
echo "$image"
