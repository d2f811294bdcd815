#!/usr/bin/env bash
# release-push.sh is `make release-push KO_DOCKER_REPO=...`: push the image
# `make release` built (DIST/image, an OCI layout) to REPO:VERSION with
# crane, byte for byte, so the registry serves the very index digest the
# release's chart names. It refuses a REPO other than the one the chart
# names (the chart would then pull an image that is not there), and checks
# the digest the registry answers for the tag afterwards.
#
# Environment: REPO (required), VERSION (vX.Y.Z, required), DIST (default
# dist). Credentials come from the docker config ($DOCKER_CONFIG or
# ~/.docker), as crane reads them.
set -euo pipefail

: "${REPO:?REPO must be the repository to push to}" "${VERSION:?VERSION must be the release version}"
dist=${DIST:-dist}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=../test/testbed/layout.sh
source "$root/test/testbed/layout.sh"
crane=$CRANE_DIR/crane

log() { echo "release-push.sh: $*" >&2; }

# The release is intact and its chart names this repository.
(cd "$root" && go run ./hack/releasecheck verify --dist "$dist" --version "$VERSION" --repository "$REPO")
digest=$(<"$dist/image.digest")
log "pushing $dist/image to $REPO:$VERSION ($digest)"
"$crane" push "$dist/image" "$REPO:$VERSION"
got=$("$crane" digest "$REPO:$VERSION")
if [[ $got != "$digest" ]]; then
	log "error: $REPO:$VERSION has digest $got, the release's chart names $digest"
	exit 1
fi
log "pushed $REPO:$VERSION@$digest; the chart is $dist/pullguard-${VERSION#v}.tgz"
