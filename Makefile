# crisp build, install and test entry points. See README.md.

# Go's standard install location, for shells that do not have it on PATH.
export PATH := $(PATH):/usr/local/go/bin:/usr/local/bin
GO       ?= go
PREFIX   ?= /usr/local
# Pure-Go image and storage libraries: no gpgme, no btrfs headers. No
# gRPC request tracing (golang.org/x/net/trace, which crisp never serves,
# and html/template with it) and no NRI WASM plugins (wazero's compiler):
# code linked is code mapped, so leaving them out keeps the daemon's
# resident memory down (docs/benchmarks.md). NRI refuses a WASM plugin.
TAGS     := containers_image_openpgp exclude_graphdriver_btrfs grpcnotrace nri_no_wasm
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X github.com/crisp-runtime/crisp/pkg/version.version=$(VERSION)
# crisp and crisp-oci are linked statically, with Go's own user and host
# name lookups (/etc/passwd, /etc/group, /etc/hosts and DNS; no NSS
# modules): every container's monitor is an execution of one of them, and
# `crisp oci` hands over to crisp-oci from crisp's start, so a start
# without the dynamic loader and the C library's relocations and page
# faults is paid back per container and per command (docs/oci.md,
# docs/benchmarks.md). crisp-image stays dynamic: ocicrypt's PKCS#11
# support loads modules with dlopen, which a static binary can do only
# with the very C library it was linked with.
GOFLAGS_BUILD := -tags '$(TAGS)' -ldflags '$(LDFLAGS)'
# crisp-oci is built with Go's JSON v2 engine behind encoding/json
# (GOEXPERIMENT=jsonv2, the default from Go 1.27; encoding/json's
# behaviour is unchanged but for the text of its errors). It builds a
# type's codec as fields are met, where v1 builds the codec of every
# runtime-spec type on the first decode: a fresh `crisp-oci run` spends
# about 0.7 ms less (docs/oci.md). The daemon decodes for days and
# keeps v1. hack/lib.sh names the same engine for the tests.
CRISP_OCI_GOEXPERIMENT := jsonv2
GOFLAGS_BUILD_STATIC := -tags '$(TAGS) osusergo netgo' -ldflags '$(LDFLAGS) -linkmode external -extldflags -static'
# crisp's ELF entry point is crisp_entry (cmd/crisp/handover.c, amd64),
# which hands `crisp oci` over to crisp-oci before the C library starts;
# hack/lib.sh links crisp the same way.
GOFLAGS_BUILD_CRISP := -tags '$(TAGS) osusergo netgo' -ldflags '$(LDFLAGS) -linkmode external -extldflags "-static -Wl,-e,crisp_entry"'

.PHONY: all build install run test test-host lint vm-test soak bench bench-scale bench-pods bench-oci bench-pull cluster-e2e conformance clean

all: build

## build: compile bin/crisp, bin/crisp-image (which pulls and loads images for it) and bin/crisp-oci (the executor's command line on its own)
build:
	$(GO) build $(GOFLAGS_BUILD_CRISP) -o bin/crisp ./cmd/crisp
	$(GO) build $(GOFLAGS_BUILD) -o bin/crisp-image ./cmd/crisp-image
	GOEXPERIMENT=$(CRISP_OCI_GOEXPERIMENT) $(GO) build $(GOFLAGS_BUILD_STATIC) -o bin/crisp-oci ./cmd/crisp-oci

## install: build, then install crisp and everything the daemon needs on this machine
install: build
	PREFIX=$(PREFIX) hack/install.sh

## run: install, then run the daemon in the foreground with embedded defaults
run: install
	exec $(PREFIX)/bin/crisp

## test: every test: lint, host unit and integration tests, guest tests
test:
	hack/test.sh

## test-host: lint and the tests that run on this host only
test-host: build
	hack/test.sh host

## lint: gofmt and go vet
lint:
	hack/lint.sh

## vm-test: tests inside the cgroup v2 guests (user-mode Linux and qemu)
vm-test: build
	hack/vm/vm-test.sh

## soak: the full reliability suite: crash injection, soak, hostile requests (docs/reliability.md)
soak: build
	hack/soak.sh

## bench: crisp against containerd, every call, pull and memory in one table (docs/benchmarks.md);
## ROUNDS and ITERATIONS override the defaults (3 and 30)
bench: build
	BENCH_ROUNDS='$(ROUNDS)' BENCH_ITERATIONS='$(ITERATIONS)' hack/bench.sh

## bench-scale: crisp against containerd on a full node (500 pods, 1000 containers) under kubelet's polling
bench-scale: build
	BENCH_ROUNDS='$(ROUNDS)' hack/bench.sh --scale $(ROUNDS)

## bench-*: side-by-side benchmarks against containerd and runc (docs/benchmarks.md)
bench-pods: build
	hack/bench-pods.sh
bench-oci: build
	hack/bench-oci.sh
bench-pull: build
	hack/bench-pull.sh

## cluster-e2e: a Kubernetes cluster of two crisp nodes in qemu guests, every scenario (docs/cluster.md)
cluster-e2e:
	hack/cluster/e2e.sh

## conformance: Kubernetes' [sig-node] [Conformance] tests against that cluster (docs/cluster.md)
conformance:
	hack/cluster/conformance.sh

clean:
	rm -rf bin _output
