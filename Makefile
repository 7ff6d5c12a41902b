# Parallax build. `make` lists the targets; `make test` installs what it needs
# (scripts/deps.sh) and runs vet and the tests. Needs only Go and Debian 12.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# Packages the go targets work on: `make test PKG=./camera/...`.
PKG ?= ./...
# A test binary that runs longer than this is stuck, not slow.
TEST_TIMEOUT ?= 20m
# Extra flags for go test, e.g. TESTFLAGS='-run TestRTSP -v'.
TESTFLAGS ?=
# Benchmarks to run: `make bench BENCH=Forward`.
BENCH ?= .
# Flags for the demo, e.g. DEMOFLAGS='--duration 30s'.
DEMOFLAGS ?=
# How long each fuzz target runs under `make fuzz`.
FUZZTIME ?= 10s
# Flags for each go test -fuzz: go's default of minimizing every new input
# for up to 60 s took nearly all of a run on inputs of kilobytes (recordings:
# 4 execs/s with it, 650 without); 0 turns it off (crashers stay as found).
FUZZFLAGS ?= -fuzzminimizetime=0

# protoc finds protoc-gen-go where `go install` put it.
GOBIN_DIR := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin)
export PATH := $(GOBIN_DIR):$(PATH)

# How long `make soak` runs.
DURATION ?= 1h
# Attempts of each repeated fault under `make faults`.
FAULTS ?= 10

.PHONY: help deps build test demo demo-checkpoint bench lint fuzz faults soak proto clean gpu-bundle

help: ## List the targets.
	@echo "Parallax: make <target>   (variables: PKG=$(PKG) TEST_TIMEOUT=$(TEST_TIMEOUT) TESTFLAGS= BENCH=$(BENCH) FUZZTIME=$(FUZZTIME) FUZZFLAGS=$(FUZZFLAGS) TORCH_DIR= TORCH_CUDA=)"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 14

deps: ## Install Debian packages, protoc-gen-go and the patched gotch in third_party/ (fast when present).
	@bash scripts/deps.sh

build: deps ## Compile every package, and bin/parallax when cmd/parallax exists.
	$(GO) build $(PKG)
	@if [[ -d cmd/parallax ]]; then \
		echo "$(GO) build -buildvcs=auto -o bin/parallax ./cmd/parallax"; \
		$(GO) build -buildvcs=auto -o bin/parallax ./cmd/parallax; \
	else \
		echo "build: no cmd/parallax yet, no bin/parallax"; \
	fi

test: deps ## go vet, then go test (TEST_TIMEOUT per package, TESTFLAGS passed on).
	$(GO) vet $(PKG)
	$(GO) test -timeout $(TEST_TIMEOUT) $(TESTFLAGS) $(PKG)

demo: deps ## Run the demo (DEMOFLAGS passed on; Ctrl-C stops it).
	$(GO) run ./cmd/parallax demo $(DEMOFLAGS)

demo-checkpoint: deps ## Retrain assets/demo.ckpt, the demo's starting checkpoint (about 30 min on 2 cores).
	$(GO) run ./cmd/parallax demo --pretrain -o assets/demo.ckpt --pretrain-steps 1500

bench: deps ## Run the benchmarks (BENCH regexp) with allocation counts.
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem $(TESTFLAGS) $(PKG)

lint: deps ## gofmt must list nothing (outside third_party/), go.mod must be tidy, go vet and staticcheck must pass.
	@unformatted="$$(find . \( -path ./third_party -o -path ./.git -o -path ./bin -o -path ./tmp \) -prune -o -name '*.go' -print | xargs -r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt -l lists these files; run gofmt -w on them:"; echo "$$unformatted"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet $(PKG)
	staticcheck $(PKG)

fuzz: deps ## Run every Fuzz target for FUZZTIME each (found with go test -list).
	@FUZZTIME='$(FUZZTIME)' FUZZFLAGS='$(FUZZFLAGS)' GO='$(GO)' bash scripts/fuzz.sh $(PKG)

faults: deps ## The fault-injection suite in full (FAULTS attempts each; figures in tmp/faults.md). make test runs it short.
	@mkdir -p tmp
	$(GO) test -count=1 -timeout 60m -v ./faults -args -faults.long -faults.attempts $(FAULTS) -faults.report $(CURDIR)/tmp/faults.md
	@echo "figures: tmp/faults.md"

soak: deps ## The demo with adaptation and recording for DURATION (default 1h), sampled; table in tmp/soak.md.
	@mkdir -p tmp
	$(GO) test -count=1 -timeout 0 -run '^TestSoak$$' -v ./faults -args -faults.soak $(DURATION) -faults.soakreport $(CURDIR)/tmp/soak.md
	@echo "table: tmp/soak.md"

proto: deps ## Regenerate the protobuf Go code: go generate ./msgs/...
	$(GO) generate ./msgs/...

gpu-bundle: deps ## Pack Go, the vendored modules and the project at HEAD into gpubundle/ for a CUDA machine without Go (scripts/gpubundle.sh).
	@bash scripts/gpubundle.sh

clean: ## Remove bin/ (keeps the Go build cache and third_party/).
	rm -rf bin/
