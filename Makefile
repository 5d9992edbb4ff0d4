# Plattr's build. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN          := $(CURDIR)/bin
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CONTROLLER_GEN_VERSION := v0.21.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)/controller-gen
# Linters, pinned like controller-gen and built into bin/<name>-<version>/.
# staticcheck v0.8.x is the 2026.1 release line; goimports ships with x/tools.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GOIMPORTS_VERSION := v0.52.0
GOIMPORTS := $(BIN)/goimports-$(GOIMPORTS_VERSION)/goimports
# goimports puts this module's imports in a group of their own, last.
GOIMPORTS_LOCAL := github.com/plattr/plattr
GO_TEST_FLAGS ?= -count=1 -timeout 30m
# An execution count, not a duration: a duration races Go's fuzzing
# coordinator at its deadline on a loaded machine and fails with "context
# deadline exceeded" and no crasher (golang/go#75804, fixed in Go 1.27).
FUZZ_TIME    ?= 20000x
# Every fuzz target, as package:Target: the parsers that take hostile input.
FUZZ_TARGETS := ./internal/naming/:FuzzNames ./internal/platformapi/authn/:FuzzSafeReturnTo ./internal/platformapi/authn/:FuzzGitHubClaims ./internal/platformapi/tasks/:FuzzDiff ./internal/config/:FuzzParseTTL ./internal/config/:FuzzParse ./internal/platformapi/statuspoll/:FuzzParsePath ./internal/platformapi/:FuzzParseConfig

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Main jobs

.PHONY: run
run: deps build ## Start the local stack, deploy the example apps and show them reaching Running.
	hack/run-example.sh

.PHONY: test
test: test-deps tools portal-assets lint verify-generate ## Run every test against real servers (the CI entry point).
	go test $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

##@ Development

.PHONY: portal-assets
portal-assets: ## Fetch the portal's front-end packages from the npm registry (web/package-lock.json) and embed Chart.js.
	@command -v npm >/dev/null || { echo "npm is missing: apt-get install -y npm (or run hack/install-deps.sh)"; exit 1; }
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	mkdir -p internal/platformapi/portal/assets/vendor
	cp web/node_modules/chart.js/dist/chart.umd.min.js internal/platformapi/portal/assets/vendor/

.PHONY: build
build: stack-tools portal-assets ## Build plattr, plattr-operator and plattr-api into bin/.
	go build -trimpath -ldflags "-X github.com/plattr/plattr/internal/cli.Version=$(VERSION)" -o $(BIN)/plattr ./cmd/plattr
	go build -trimpath -o $(BIN)/plattr-operator ./cmd/operator
	go build -trimpath -ldflags "-X main.Version=$(VERSION)" -o $(BIN)/plattr-api ./cmd/plattr-api

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code, CRDs, RBAC and the chart's copies and README.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=plattr-operator 'paths=./internal/controller/...;./internal/operator/...' output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=plattr-api paths=./internal/platformapi/... output:rbac:artifacts:config=config/rbac/api
	@# The chart carries copies: Helm reads only files inside the chart.
	cp config/crd/bases/*.yaml charts/plattr/files/crds/
	cp config/rbac/role.yaml charts/plattr/files/rbac/operator-role.yaml
	cp config/rbac/api/role.yaml charts/plattr/files/rbac/api-role.yaml
	cp config/rbac/operator_policy.yaml charts/plattr/files/rbac/operator-policy.yaml
	cp config/rbac/tenant_roles.yaml charts/plattr/files/rbac/tenant-roles.yaml
	cp config/admission/environment.yaml config/admission/gateway-routes.yaml charts/plattr/files/admission/
	@# The Gateway API CRDs ship in the gateway-api module go.mod names.
	@gw=$$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard; \
	for k in gatewayclasses gateways httproutes referencegrants; do \
		install -m 0644 $$gw/gateway.networking.k8s.io_$$k.yaml config/gatewayapi/; done
	mkdir -p charts/plattr/files/gatewayapi && cp config/gatewayapi/*.yaml charts/plattr/files/gatewayapi/
	go run ./hack/chartdoc charts/plattr

.PHONY: verify-generate
verify-generate: $(CONTROLLER_GEN) ## Fail if generated files are stale.
	@before=$$(find api config charts -type f -print0 | sort -z | xargs -0 sha256sum); \
	$(MAKE) --no-print-directory generate >/dev/null; \
	after=$$(find api config charts -type f -print0 | sort -z | xargs -0 sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "generated files were stale: 'make generate' has updated them; review and commit"; exit 1; fi

.PHONY: lint
lint: $(STATICCHECK) $(GOIMPORTS) ## gofmt, goimports (local imports last), go vet and staticcheck.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@# Generated files (controller-gen's deepcopy) are left as their generator writes them.
	@out=$$($(GOIMPORTS) -local $(GOIMPORTS_LOCAL) -l $$(git ls-files '*.go' | xargs grep -L '^// Code generated .* DO NOT EDIT\.$$')); \
	if [ -n "$$out" ]; then echo "goimports needed ($(GOIMPORTS) -local $(GOIMPORTS_LOCAL) -w FILE):"; echo "$$out"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

.PHONY: bench
bench: deps stack-tools ## Benchmarks with figures: apply-to-Running on the real control plane and PostgreSQL.
	go test -run '^$$' -bench . -benchtime 10x ./internal/controller/application/

.PHONY: bench-scale
bench-scale: deps build ## N apps (APPS=1000) against a baseline: throughput, latency, writes, CPU, RSS, idle cost, orphans.
	go run ./hack/benchscale -apps $(or $(APPS),1000) $(BENCH_FLAGS)

.PHONY: bench-api
bench-api: deps stack-tools ## The platform API at APPS=1000: GET /api/v1/apps p50/p99 at RATE=1000 req/s, event fan-out to CLIENTS=1000.
	go run ./hack/benchapi -apps $(or $(APPS),1000) -rate $(or $(RATE),1000) -clients $(or $(CLIENTS),1000)

.PHONY: images
images: portal-assets ## Build the operator and API images without Docker; REGISTRY=… TAG=… pushes them, else bin/images/*.tar.
	go run ./hack/images -tag $(or $(TAG),$(VERSION)) $(if $(REGISTRY),-registry $(REGISTRY))

.PHONY: chart
chart: ## Lint and package the Helm chart into bin/charts (CHART_VERSION=… overrides Chart.yaml's).
	hack/build-tools.sh helm >/dev/null
	$(BIN)/helm-*/helm lint charts/plattr --strict
	$(BIN)/helm-*/helm package charts/plattr --destination $(BIN)/charts $(if $(CHART_VERSION),--version $(CHART_VERSION) --app-version v$(CHART_VERSION))

.PHONY: chaos
chaos: deps stack-tools ## SIGKILL the operator at random while 200 apps are created, edited, rotated, deleted; check it converges.
	PLATTR_CHAOS_APPS=$(or $(APPS),200) PLATTR_CHAOS_KILLS=$(or $(KILLS),20) go test -count=1 -v -timeout 30m -run TestChaos ./internal/controller/application/

.PHONY: fuzz
fuzz: ## Run every fuzz target (FUZZ_TIME=1000000x for longer).
	@# One instrumented test binary per package, run once per target: linking
	@# it is most of a short run's time, and `go test -fuzz` links it anew for
	@# every target. The binary runs in its package's directory (testdata/fuzz
	@# corpus, crashers written there) and keeps go test's corpus cache.
	@bins=$$(mktemp -d); trap 'rm -rf "$$bins"' EXIT; cache=$$(go env GOCACHE)/fuzz; \
	for pkg in $$(for t in $(FUZZ_TARGETS); do echo "$${t%%:*}"; done | sort -u); do \
	  go test -c -fuzz . -o "$$bins/pkg.test" "$$pkg" || exit 1; \
	  importpath=$$(go list "$$pkg"); \
	  for t in $(FUZZ_TARGETS); do \
	    [ "$${t%%:*}" = "$$pkg" ] || continue; \
	    echo "fuzz $${t#*:} in $$pkg"; \
	    (cd "$$pkg" && "$$bins/pkg.test" -test.run '^$$' -test.fuzz "^$${t#*:}$$" -test.fuzztime $(FUZZ_TIME) \
	      -test.fuzzcachedir "$$cache/$$importpath" -test.timeout 10m) || exit 1; \
	  done; \
	done

.PHONY: tools
tools: ## Build every tool from the Go module proxy (cached in bin/): the local stack's and the tests' (promtool, actionlint).
	hack/build-tools.sh all

.PHONY: stack-tools
stack-tools: ## Build what the local stack and make build need: the control plane, kwok, versitygw, Dex and Helm (cached in bin/).
	hack/build-tools.sh stack

.PHONY: deps
deps: ## Install system packages the stack needs (PostgreSQL server, npm) if missing.
	hack/install-deps.sh postgres npm

.PHONY: test-deps
test-deps: ## Install what the tests need besides the stack (headless Chromium) if missing.
	hack/install-deps.sh postgres npm chromium

.PHONY: dev-down
dev-down: ## Stop the local stack and delete its data.
	$(BIN)/plattr dev down --purge

$(CONTROLLER_GEN):
	GOBIN=$(dir $(CONTROLLER_GEN)) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $(STATICCHECK)) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOIMPORTS):
	GOBIN=$(dir $(GOIMPORTS)) go install golang.org/x/tools/cmd/goimports@$(GOIMPORTS_VERSION)
