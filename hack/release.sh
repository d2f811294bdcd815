#!/usr/bin/env bash
# release.sh is `make release VERSION=vX.Y.Z`: everything a release ships,
# built without pushing anything, into DIST (default dist/):
#
#   pullguard-VERSION-OS-ARCH          the CLI for linux and darwin, amd64 and arm64
#   image/                             the multi-arch image (linux/amd64, linux/arm64)
#                                      as an OCI image layout, built by ko
#   pullguard-VERSION-image.oci.tar    the same layout as one file
#   image.digest                       the digest of the image's index
#   sbom/                              ko's SPDX SBOMs of the image
#   pullguard-X.Y.Z.tgz                the Helm chart, image.repository = REPO and
#                                      image.digest = that digest by default
#   SHA256SUMS                         sha256 of every file above
#
# then checks the result with hack/releasecheck. `make release-push` pushes
# image/ to REPO, after which the chart's default pulls a real image.
#
# The image's base: .ko.yaml's distroless static nonroot; without access to
# its registry (CI here) give KO_DEFAULTBASEIMAGE, or this script builds
# hack/baseimage's stand-in in a throwaway local registry (hack/throwaway.sh).
#
# Environment: VERSION (vX.Y.Z, required), COMMIT (default unknown), KO and
# HELM (the binaries, required), REPO (the repository the image will be
# pushed to; default ghcr.io/pullguard/pullguard), DIST (default dist),
# LDFLAGS (the Makefile's, for the CLI).
set -euo pipefail

: "${VERSION:?VERSION must be set (vX.Y.Z)}" "${KO:?KO must name the ko binary}" "${HELM:?HELM must name the helm binary}"
: "${LDFLAGS:?LDFLAGS must be set as the Makefile sets it}"
repo=${REPO:-ghcr.io/pullguard/pullguard}
dist=${DIST:-dist}
platforms=linux/amd64,linux/arm64
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

log() { echo "release.sh: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# A release version is semver with a v, so the chart's version (without the
# v) is valid and the image tag is never latest.
[[ $VERSION =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]] ||
	die "VERSION ${VERSION@Q} is not vMAJOR.MINOR.PATCH[-PRERELEASE]"
chart_version=${VERSION#v}
[[ $repo =~ ^[a-z0-9][a-z0-9.:-]*(/[a-z0-9._-]+)+$ ]] || die "REPO ${repo@Q} is not a repository (host/path, lower case)"

rm -rf "$dist"
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
work=$(mktemp -d)
# shellcheck source=SCRIPTDIR/throwaway.sh
source "$here/throwaway.sh"
cleanup() {
	stop_throwaway_registry "$work"
	rm -rf "$work"
}
trap cleanup EXIT

# The CLI, as `make build` builds it, for each platform a developer or CI
# runs it on.
for os in linux darwin; do
	for arch in amd64 arm64; do
		log "pullguard $VERSION for $os/$arch"
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags "$LDFLAGS" \
			-o "$dist/pullguard-$VERSION-$os-$arch" ./cmd/pullguard
	done
done

# The image: ko builds it into an OCI layout instead of pushing it. ko names
# the image after KO_DOCKER_REPO, the repository it will be pushed to.
if [[ -z ${KO_DEFAULTBASEIMAGE:-} ]]; then
	throwaway_registry "$work"
	standin_base "$PULLGUARD_REGISTRY_HOST/release" "$platforms"
	log "base: $KO_DEFAULTBASEIMAGE (offline stand-in for distroless static nonroot)"
fi
export VERSION COMMIT=${COMMIT:-unknown} KO_DOCKER_REPO=$repo
log "image for $platforms into $dist/image"
"$KO" build ./cmd/pullguard --bare --tags "$VERSION" --platform "$platforms" \
	--push=false --oci-layout-path "$dist/image" --sbom spdx --sbom-dir "$dist/sbom" >"$work/ko.out"
# The layout's index.json lists the one image index ko built.
digest=$(jq -er '.manifests | if length == 1 then .[0].digest else error("want one image in the layout") end' "$dist/image/index.json")
[[ $digest =~ ^sha256:[a-f0-9]{64}$ ]] || die "layout index digest ${digest@Q}"
echo "$digest" >"$dist/image.digest"
tar -C "$dist/image" -cf "$dist/pullguard-$VERSION-image.oci.tar" .
log "image $repo:$VERSION@$digest"

# The chart, with the image's repository, tag and digest as its defaults.
cp -R charts/pullguard "$work/pullguard"
go run ./hack/releasecheck set-chart --dir "$work/pullguard" --version "$chart_version" \
	--repository "$repo" --tag "$VERSION" --digest "$digest"
"$HELM" lint --strict "$work/pullguard" >&2
"$HELM" package "$work/pullguard" --destination "$dist" >&2

(cd "$dist" && find . -type f ! -name SHA256SUMS ! -path './image/*' -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
go run ./hack/releasecheck verify --dist "$dist" --version "$VERSION" --repository "$repo"
log "done: $dist"
