# pullguard — run `make help` for the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
# Heavy, versioned tools live outside the clone so CI on the same machine reuses them.
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pullguard
TOOLS_DIR := $(CACHE_DIR)/bin

STATICCHECK_VERSION := v0.8.2
CONTROLLER_GEN_VERSION := v0.23.0
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen-$(CONTROLLER_GEN_VERSION)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/pullguard/pullguard/cmd/pullguard/app.version=$(VERSION) -X github.com/pullguard/pullguard/cmd/pullguard/app.commit=$(COMMIT)

FUZZTIME ?= 20s
BENCHTIME ?= 1s

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build bin/pullguard, and bin/kubectl-pullguard (a link: kubectl's plugin name for it).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pullguard ./cmd/pullguard
	ln -sf pullguard bin/kubectl-pullguard

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and the ImagePolicy CRD (and the chart's copy of it).
	CONTROLLER_GEN=$(CONTROLLER_GEN) $(GO) generate ./policies/...
	cp policies/crd/pullguard.io_imagepolicies.yaml $(CHART_DIR)/files/crds/

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go mod tidy (direct dependencies marked direct), go vet and staticcheck.
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

.PHONY: verify-generated
verify-generated: generate ## Fail when generated files are stale.
	@git diff --exit-code -- policies/ $(CHART_DIR)/files/crds/ || { echo "generated files are stale: run make generate"; exit 1; }

.PHONY: unit
unit: ## Unit and command tests (race detector on).
	$(GO) test -race -count=1 ./...

.PHONY: test
test: lint verify-generated unit chart-lint image ## Everything CI runs: lint, generated files, all tests, the chart, the image (built with ko and checked by pullguard), then the end-to-end tests.
	@$(MAKE) --no-print-directory e2e

.PHONY: bench
bench: ## Benchmarks (BENCHTIME=1s).
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

.PHONY: bench-cold
bench-cold: ## The cold-path harness: new images through the webhook over HTTPS, a bearer-token registry, with and without 50 ms latency (BenchmarkColdPath).
	$(GO) test -run='^$$' -bench='^BenchmarkColdPath$$' -benchtime=20x ./webhook

.PHONY: soak
soak: ## Soak: validating admissions over HTTPS at PULLGUARD_SOAK_RATE/s (1000) for PULLGUARD_SOAK_DURATION (60s), then with a registry hanging halfway.
	$(GO) test -tags soak -run '^TestSoak$$' -count=1 -v -timeout 10m ./webhook

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	@for target in $$($(GO) test -list='^Fuzz' ./... | awk '/^Fuzz/ {print $$1}' | sort -u); do \
	  pkg=$$(grep -rl --include='*_test.go' "func $$target(" . | head -n1 | xargs dirname); \
	  echo "== $$target in $$pkg"; \
	  $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
	done

##@ End-to-end

.PHONY: testbed
testbed: ## Build kube-apiserver, etcd, kubectl, registry, crane and the real node (kubelet, kube-controller-manager, kube-scheduler, containerd, runc) into $(CACHE_DIR)/testbed (cached).
	nice -n 10 test/testbed/build.sh

# The suite runs the real node's scenarios (TestRealNode) where the machine
# allows it (root, cgroups, overlay mounts) and says why in one line where not.
E2E_TIMEOUT ?= 30m

.PHONY: e2e
e2e: testbed build ## End-to-end tests: real API server and etcd, registries, kubectl, bin/pullguard serve, the chart, and a real kubelet + containerd node where the machine allows.
	eval "$$(test/testbed/env.sh --strict)" && PULLGUARD_HELM=$(HELM) $(GO) test -tags e2e -count=1 -timeout=$(E2E_TIMEOUT) -v ./test/e2e/

.PHONY: e2e-realnode
e2e-realnode: testbed build ## Only the prediction-vs-reality scenarios on the real node (needs root, cgroups, overlay mounts).
	eval "$$(test/testbed/env.sh --strict)" && $(GO) test -tags e2e -count=1 -timeout=$(E2E_TIMEOUT) -v -run '^TestRealNode$$' ./test/e2e/

##@ Tools (built from the Go module proxy into $(TOOLS_DIR))

$(STATICCHECK):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/.tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS_DIR)/.tmp/staticcheck $@

$(CONTROLLER_GEN):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/.tmp $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(TOOLS_DIR)/.tmp/controller-gen $@

##@ Run

# NODE=real adds a real kubelet + containerd node (root, cgroups, overlay
# mounts): the same bad pod refused at apply time and, unprotected, in
# ImagePullBackOff.
NODE ?=
ifeq ($(NODE),real)
DEMO_ARGS += --real-node
else ifneq ($(NODE),)
$(error NODE=$(NODE): want NODE=real or nothing)
endif

.PHONY: run
run: testbed build ## Demo: a local cluster with pullguard; applies examples/manifests with kubectl and leaves it running (NODE=real: with a real kubelet + containerd node).
	$(GO) build -o bin/pullguard-demo ./examples/demo
	eval "$$(test/testbed/env.sh --strict)" && bin/pullguard-demo up --pullguard bin/pullguard $(DEMO_ARGS)

.PHONY: demo
demo: run ## Same as run.

.PHONY: demo-down
demo-down: ## Stop the cluster make run left running (safe to repeat).
	@if [ -x bin/pullguard-demo ]; then bin/pullguard-demo down; else $(GO) run ./examples/demo down; fi

##@ Packaging

HELM_VERSION := v3.22.0
KO_VERSION := v0.19.1
HELM := $(TOOLS_DIR)/helm-$(HELM_VERSION)
# helm's own release ldflags: without them `go install` leaves helm assuming
# Kubernetes 1.20 for `helm template`, kubeVersion checks and deprecation
# lint. 1.37 is the minor of the k8s.io modules helm v3.22.0 is built with.
HELM_KUBE_MINOR := 37
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach p,pkg/lint/rules pkg/chartutil,-X helm.sh/helm/v3/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/$(p).k8sVersionMinor=$(HELM_KUBE_MINOR))
KO := $(TOOLS_DIR)/ko-$(KO_VERSION)
CHART_DIR := charts/pullguard
# Value files `chart-lint` checks on top of the defaults.
CHART_CI_VALUES := $(sort $(wildcard $(CHART_DIR)/ci/*.yaml))
CHART_RELEASE ?= pullguard
CHART_NAMESPACE ?= pullguard-system
# Where `chart-render` writes the manifests test/e2e applies.
CHART_RENDER_DIR ?= bin/chart
# The source chart has no image digest (only a release's has): lint and
# render it with this stand-in, which names no pushed image.
CHART_TEST_DIGEST := sha256:5c5bb8f515329b803954a777998f087f359f3d08b1ab9b6d1cb819e61e7ab077
CHART_SET := --set image.digest=$(CHART_TEST_DIGEST)

.PHONY: chart-lint
chart-lint: $(HELM) ## helm lint and helm template with the default and each ci/ values; chart tests.
	$(HELM) lint --strict $(CHART_DIR) $(CHART_SET)
	@for f in $(CHART_CI_VALUES); do echo "== $$f"; $(HELM) lint --strict $(CHART_DIR) $(CHART_SET) -f "$$f"; done
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) >/dev/null
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) --api-versions cert-manager.io/v1 >/dev/null
	@for f in $(CHART_CI_VALUES); do $(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) -f "$$f" >/dev/null; done
	PULLGUARD_HELM=$(HELM) $(GO) test -count=1 ./charts/...

.PHONY: chart-render
chart-render: $(HELM) ## Render the chart into CHART_RENDER_DIR: crds.yaml, pullguard.yaml (self-signed), cert-manager.yaml.
	@rm -rf $(CHART_RENDER_DIR) && mkdir -p $(CHART_RENDER_DIR)
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) --show-only templates/crds.yaml >$(CHART_RENDER_DIR)/crds.yaml
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) --set crds.enabled=false >$(CHART_RENDER_DIR)/pullguard.yaml
	$(HELM) template $(CHART_RELEASE) $(CHART_DIR) --namespace $(CHART_NAMESPACE) $(CHART_SET) --set crds.enabled=false --api-versions cert-manager.io/v1 >$(CHART_RENDER_DIR)/cert-manager.yaml
	@echo "rendered for namespace $(CHART_NAMESPACE) into $(CHART_RENDER_DIR)/ (apply crds.yaml first)"

.PHONY: image
image: build $(KO) ## ko-build the image (KO_DOCKER_REPO, or a throwaway local registry), push it, pullguard-check it.
	KO=$(KO) VERSION=$(VERSION) COMMIT=$(COMMIT) PULLGUARD=bin/pullguard hack/image.sh

# The repository a release's image is pushed to, and its chart names.
RELEASE_REPO ?= $(or $(KO_DOCKER_REPO),ghcr.io/pullguard/pullguard)
DIST ?= dist

.PHONY: release
release: $(KO) $(HELM) ## Offline into DIST (dist/): CLI for linux/darwin x amd64/arm64, the multi-arch image as an OCI layout with its digest and SBOM, the chart defaulting to that digest, SHA256SUMS; then checked (VERSION=vX.Y.Z, KO_DOCKER_REPO=the repository it will be pushed to).
	KO=$(KO) HELM=$(HELM) VERSION=$(VERSION) COMMIT=$(COMMIT) LDFLAGS='$(LDFLAGS)' REPO=$(RELEASE_REPO) DIST=$(DIST) hack/release.sh

.PHONY: release-push
release-push: ## Push DIST's image (index and every platform, same digest) to KO_DOCKER_REPO:VERSION, the repository `make release` named in the chart.
	@test -n "$(KO_DOCKER_REPO)" || { echo "release-push: set KO_DOCKER_REPO to the repository the release was built for"; exit 2; }
	test/testbed/build.sh crane
	REPO=$(KO_DOCKER_REPO) VERSION=$(VERSION) DIST=$(DIST) hack/release-push.sh

$(HELM):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/.tmp $(GO) install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS_DIR)/.tmp/helm $@

# e2e renders the chart with the pinned helm (TestChart); here, where HELM is set.
e2e: $(HELM)

$(KO):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/.tmp $(GO) install github.com/google/ko@$(KO_VERSION)
	mv $(TOOLS_DIR)/.tmp/ko $@
