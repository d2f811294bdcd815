# pullguard — run `make help` for the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
export GOPROXY ?= https://proxy.golang.org
# Heavy, versioned tools live outside the clone so CI on the same machine reuses them.
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pullguard
TOOLS_DIR := $(CACHE_DIR)/bin

STATICCHECK_VERSION := v0.8.2
CONTROLLER_GEN_VERSION := v0.23.0
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen-$(CONTROLLER_GEN_VERSION)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/pullguard/pullguard/cmd/pullguard/app.version=$(VERSION)

FUZZTIME ?= 20s
BENCHTIME ?= 1s

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build bin/pullguard.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pullguard ./cmd/pullguard

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and the ImagePolicy CRD.
	CONTROLLER_GEN=$(CONTROLLER_GEN) $(GO) generate ./policies/...

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet and staticcheck.
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

.PHONY: verify-generated
verify-generated: generate ## Fail when generated files are stale.
	@git diff --exit-code -- policies/ || { echo "generated files are stale: run make generate"; exit 1; }

.PHONY: unit
unit: ## Unit and command tests (race detector on).
	$(GO) test -race -count=1 ./...

.PHONY: test
test: lint unit ## Everything CI runs: lint, all tests, then the end-to-end tests.
	@$(MAKE) --no-print-directory e2e

.PHONY: bench
bench: ## Benchmarks (BENCHTIME=1s).
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	@for target in $$($(GO) test -list='^Fuzz' ./... | awk '/^Fuzz/ {print $$1}' | sort -u); do \
	  pkg=$$(grep -rl --include='*_test.go' "func $$target(" . | head -n1 | xargs dirname); \
	  echo "== $$target in $$pkg"; \
	  $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
	done

##@ End-to-end

.PHONY: testbed
testbed: ## Build kube-apiserver, etcd, kubectl, registry and crane into $(CACHE_DIR)/testbed (cached).
	test/testbed/build.sh

.PHONY: e2e
e2e: testbed build ## End-to-end tests: real API server and etcd, registries, kubectl, bin/pullguard serve.
	eval "$$(test/testbed/env.sh --strict)" && $(GO) test -tags e2e -count=1 -v ./test/e2e/

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

.PHONY: run
run: build ## Demo: local registries with sample images, and `pullguard check` on examples/manifests.
	$(GO) run ./examples/demo --pullguard bin/pullguard $(DEMO_ARGS)

.PHONY: demo
demo: run ## Same as run.
