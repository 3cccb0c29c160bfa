# OneMeeting CVI onboarding service.
#   make run      the whole flow locally, offline (Azurite + local Functions host + sandbox identity/Graph + handler)
#   make test     install what the tests need, then lint and run every test with the race detector
#   make bench    benchmarks (provisioning throughput, revalidation at scale, tenant search, the fault soak)
#   make console  build the operator console (console/, Vite) into internal/console/site for embedding
#   make package  dist/ and dist/onemeeting-cvi.zip for Azure Functions
#   make provision-example  (with make run going) provision the contract's example tenant for admin IP 127.0.0.1

SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
CHROMIUM ?= /usr/bin/chromium

.PHONY: all deps deps-go deps-node deps-browser console build run provision-example test lint bench package clean

all: build

deps: deps-go deps-node deps-browser

deps-go:
	$(GO) mod download

# Azurite (pinned in package-lock.json) for Table Storage.
deps-node: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Debian's Chromium for the page and email tests.
deps-browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Debian chromium for browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

# The operator console SPA: npm ci + Vite build into internal/console/site,
# which the handler embeds. The build empties site/, so the committed
# placeholder (it keeps `go:embed` compiling without a build) is restored.
CONSOLE_PLACEHOLDER := internal/console/site/README.txt
console:
	npm --prefix console ci --no-audit --no-fund
	npm --prefix console run build
	@git checkout -- $(CONSOLE_PLACEHOLDER) 2>/dev/null || printf 'Placeholder so `//go:embed all:site` compiles without a console build.\n' > $(CONSOLE_PLACEHOLDER)

build:
	$(GO) build -o bin/handler .
	$(GO) build -o bin/devstack ./cmd/devstack

run: deps-go deps-node console build
	./bin/devstack

# Sends contracts/provisioning.v1.example.json to the local host of `make run`
# with admin IP 127.0.0.1; PROVISION_FLAGS adds flags (see go run ./cmd/provision -h),
# e.g. make provision-example PROVISION_FLAGS='-region us -tenant-id <guid> -request-id CRM-2'.
PROVISION_FLAGS ?=
provision-example:
	@$(GO) build -o bin/provision ./cmd/provision
	./bin/provision -file contracts/provisioning.v1.example.json -admin-ip 127.0.0.1 -local http://127.0.0.1:7071 $(PROVISION_FLAGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# -v output goes to .local/test.log; the console shows package results,
# failures, skips (there must be none) and the lines that say which real
# components (Azurite, Chromium) the tests ran against.
test: deps console lint
	npm --prefix console test
	@mkdir -p .local
	@set -o pipefail; $(GO) test -race -count=1 -v ./... 2>&1 | tee .local/test.log | \
		grep -E '^(ok|FAIL|--- FAIL|--- SKIP|panic:)|azurite table service on|^\s+--- FAIL' ; \
	status=$${PIPESTATUS[0]}; \
	echo "tests run: $$(grep -c '^=== RUN' .local/test.log), skipped: $$(grep -c -- '--- SKIP' .local/test.log) (full log: .local/test.log)"; \
	exit $$status

# One process per scenario, so each peak RSS figure is its own.
bench: deps-go deps-node
	$(GO) test -run '^$$' -bench 'BenchmarkProvisioning' -benchtime 1x ./internal/e2e
	$(GO) test -run '^$$' -bench 'BenchmarkConsentStartOverload' -benchtime 1x -timeout 10m ./internal/e2e
	$(GO) test -run '^$$' -bench 'BenchmarkRevalidation/tenants=1000$$' -benchtime 1x -timeout 20m ./internal/e2e
	$(GO) test -run '^$$' -bench 'BenchmarkRevalidation/tenants=10000$$' -benchtime 1x -timeout 30m ./internal/e2e
	$(GO) test -run '^$$' -bench 'BenchmarkSoak$$' -benchtime 1x -timeout 20m ./internal/e2e
	$(GO) test -run '^$$' -bench . -benchmem ./internal/graph ./internal/dev/entrasim
	$(GO) test -run '^$$' -bench 'BenchmarkDecodeProvisioning' -benchmem ./internal/domain
	$(GO) test -run '^$$' -bench 'BenchmarkTenantSearch' -benchtime 1x -timeout 20m ./internal/tablestore

package: console
	$(GO) run ./cmd/pack

clean:
	rm -rf bin dist .local/outbox .local/outbox.prev-*
