#!/usr/bin/env bash
# Builds kubelet from k8s.io/kubernetes at a pinned release through the Go
# module proxy and installs it beside the other test tools, for the kubelet
# end-to-end test (hack/kubelet-e2e.sh). Idempotent: an installed kubelet
# that already reports the pinned version is kept. The build itself, in a
# throwaway module, is k8s_build of hack/k8s-build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
. hack/k8s-build.sh
require_root

BIN=${TOOLS_BIN:-/usr/local/bin}
# The kubelet release the end-to-end test runs.
VERSION=$KUBERNETES_VERSION

if [ "$(k8s_version_of "$BIN/kubelet")" = "Kubernetes $VERSION" ]; then
	exit 0
fi

log "building kubelet $VERSION (a few minutes)"
start=$SECONDS
k8s_build "$VERSION" "$BIN" kubelet
log "kubelet $VERSION installed in $BIN in $((SECONDS - start))s"
