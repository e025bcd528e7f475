# tokenagent build, test and demo entry points. `make help` lists them.
# The recipes use bash features (pipefail), so say so rather than rely on sh.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go
# Evaluated once (:=), not at every use.
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
# v0.8.2 is staticcheck 2026.2.2. Go 1.26 support (new(expr), its deprecated
# APIs) came in 2026.1, so 2025.1.x is too old for this module. go run keeps
# the tool out of go.mod; the build cache makes later runs quick.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Left to the shell, so that XDG_STATE_HOME and HOME are read when it runs.
DEMO_DIR ?= $${XDG_STATE_HOME:-$$HOME/.local/state}/tokenagent/demo
# Where the demo agent listens (the page is http://DEMO_LISTEN/).
DEMO_LISTEN ?= 127.0.0.1:24321
DEMOTOKEN = $(GO) run ./cmd/demotoken -dir "$(DEMO_DIR)" -listen "$(DEMO_LISTEN)"

# Tests that inject PKCS#11 faults load the shim from here (make shim).
TOKENAGENT_P11SHIM ?= $(CURDIR)/build/p11shim/libp11shim.so
export TOKENAGENT_P11SHIM
# The GOST tests use the SoftHSM built with GOST here (make softhsm-gost).
TOKENAGENT_SOFTHSM_GOST ?= $(CURDIR)/build/softhsm-gost
export TOKENAGENT_SOFTHSM_GOST
# CI comes from the environment and reaches go test unchanged: with CI set,
# tests fail rather than skip when SoftHSM is missing.

.PHONY: help build test lint fmt-check vet staticcheck deps softhsm-gost shim demo demo-issue demo-reset bench package clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/tokenagent
	@echo "==> go build bin/tokenagent (version $(VERSION))"
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/tokenagent ./cmd/tokenagent

deps: ## install missing system packages (apt-get, through sudo when not root)
	@echo "==> system packages"
	@bash scripts/deps.sh

softhsm-gost: deps ## build SoftHSM with GOST from Debian's source into build/softhsm-gost (once; about 3 minutes)
	@echo "==> SoftHSM with GOST, from Debian's source"
	@bash scripts/softhsm-gost.sh "$(TOKENAGENT_SOFTHSM_GOST)"

shim: ## build the fault-injecting PKCS#11 module into build/p11shim
	@echo "==> PKCS#11 fault-injection shim"
	sh testdata/p11shim/build.sh build/p11shim

test: deps shim softhsm-gost lint ## everything CI runs: deps, shim, the GOST SoftHSM, lint, go test -race
	@echo "==> go test -race ./..."
	$(GO) test -race -count=1 ./...

lint: fmt-check vet staticcheck ## gofmt, go vet, staticcheck

fmt-check:
	@echo "==> gofmt -l"
	@files=$$(gofmt -l .); \
	if [ -n "$$files" ]; then echo "these files need gofmt -w:"; echo "$$files"; exit 1; fi

vet:
	@echo "==> go vet ./..."
	$(GO) vet ./...

staticcheck:
	@echo "==> staticcheck ./..."
	$(STATICCHECK) ./...

demo: deps build ## run the agent against SoftHSM demo tokens; prints the page's URL once it listens
	@echo "==> demo tokens in $(DEMO_DIR)"
	$(DEMOTOKEN) run bin/tokenagent

# Silent, so that stdout carries only the certificate.
demo-issue: ## issue a certificate for a CSR with the demo CA: make demo-issue < req.csr > cert.pem
	@$(DEMOTOKEN) issue

demo-reset: deps ## new demo tokens and demo CA (the demo's certificates valid again)
	@echo "==> resetting the demo in $(DEMO_DIR)"
	$(DEMOTOKEN) reset

# How long make bench soaks the agent with mixed calls (a Go duration).
SOAK ?= 10m

bench: deps shim softhsm-gost ## run the benchmarks and the load, soak and idle runs, and print the figures
	@echo "==> go test -bench ./..."
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@echo "==> load, soak ($(SOAK)) and idle runs against the agent on SoftHSM (internal/loadtest)"
	TOKENAGENT_LOAD=1 TOKENAGENT_SOAK=$(SOAK) $(GO) test -count=1 -timeout 60m -run . -v ./internal/loadtest/

package: deps ## build dist/tokenagent_VERSION_amd64.{deb,rpm,msi} (nfpm, wixl)
	@echo "==> packages (version $(VERSION))"
	VERSION="$(VERSION)" GO="$(GO)" bash scripts/package.sh dist

clean: ## remove build output
	rm -rf bin build dist
