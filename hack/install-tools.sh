#!/usr/bin/env bash
# Installs the tools crisp's tests use, at pinned versions: crictl and critest
# from cri-tools, gotestsum, busybox-static for test root filesystems. Idempotent: a tool
# already built from the pinned module version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

BIN=${TOOLS_BIN:-/usr/local/bin}

apt_install busybox-static iproute2 iputils-ping util-linux ca-certificates
# Headers for the cgo parts of go.podman.io libraries, so that plain
# `go build ./...` and `go vet ./...` work without crisp's build tags too
# (bin/crisp itself is built with the tags and needs neither library).
apt_install libgpgme-dev libbtrfs-dev pkg-config
# libseccomp for the seccomp compiler's differential test against it.
apt_install libseccomp-dev
# Pod network tests use the standard CNI plugins (not the default config).
hack/install-cni.sh --plugins-only

if ! has_module_version "$BIN/crictl" sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION"; then
	log "installing crictl $CRI_TOOLS_VERSION"
	GOBIN="$BIN" go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
fi

if ! has_module_version "$BIN/gotestsum" gotest.tools/gotestsum "$GOTESTSUM_VERSION"; then
	log "installing gotestsum $GOTESTSUM_VERSION"
	GOBIN="$BIN" go install "gotest.tools/gotestsum@$GOTESTSUM_VERSION"
fi

# kubelet for the kubelet end-to-end test (hack/kubelet-e2e.sh), built from
# k8s.io/kubernetes at its pinned release.
if ! has_module_version "$BIN/checkpointctl" github.com/checkpoint-restore/checkpointctl "$CHECKPOINTCTL_VERSION"; then
	log "installing checkpointctl $CHECKPOINTCTL_VERSION"
	GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/checkpoint-restore/checkpointctl@$CHECKPOINTCTL_VERSION"
fi

hack/install-kubelet.sh

# critest is a Go test binary: build it from the module's source.
critest_version=$("$BIN/critest" --version 2>&1 || true)
if [[ $critest_version != *"critest version: ${CRI_TOOLS_VERSION#v}"* ]]; then
	log "installing critest $CRI_TOOLS_VERSION"
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	(cd "$src" && go mod download -json "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION") >"$src/mod.json"
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$src/mod.json")
	cp -r "$dir" "$src/cri-tools" && chmod -R u+w "$src/cri-tools"
	(cd "$src/cri-tools" && go test -c -mod=mod -o "$BIN/critest" \
		-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=${CRI_TOOLS_VERSION#v}" ./cmd/critest)
fi
