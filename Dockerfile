# syntax=docker/dockerfile:1
# pullguard's container image: a static binary on distroless static, non-root.
# CI here builds the same image with ko (`make image`, see .ko.yaml), since no
# Docker engine runs on the CI machines; this file is for `docker build`:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always --dirty) -t <repo>:<tag> .

# The builder runs on the build machine's platform and cross-compiles, so a
# multi-platform build never emulates the compiler. Only its output ships.
FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/pullguard/pullguard/cmd/pullguard/app.version=${VERSION} -X github.com/pullguard/pullguard/cmd/pullguard/app.commit=${COMMIT}" \
      -o /out/pullguard ./cmd/pullguard

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), no shell and no package manager. The digest is the multi-platform
# index of static-debian12:nonroot; the tag only documents it. Keep it in step
# with defaultBaseImage in .ko.yaml.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/pullguard /pullguard
USER 65532:65532
ENTRYPOINT ["/pullguard"]
CMD ["serve"]
