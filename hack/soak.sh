#!/usr/bin/env bash
# Runs crisp's reliability suite (test/reliability, docs/reliability.md) in
# its full form: at least 20 SIGKILLs of the daemon during bursts of pod and
# container operations, 200 soak cycles, and the hostile request table, each
# ending with the leak accounting. go test runs the bounded form of the same
# suite.
#
# Usage: hack/soak.sh [go test flags, e.g. -run TestSoak]   (root)
# Environment:
#   CRISP_BIN               crisp binary (default bin/crisp, built if missing)
#   CRISP_RELIABILITY_SEED  replay the crash test's choices of an earlier run
# First use installs the CNI plugins (hack/install-cni.sh --plugins-only).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
require_root

export CRISP_BIN=${CRISP_BIN:-$REPO_ROOT/bin/crisp}
if [ ! -x "$CRISP_BIN" ]; then
	make --no-print-directory build
fi
missing=
for p in bridge host-local loopback portmap; do
	[ -x "/opt/cni/bin/$p" ] || missing=1
done
[ -z "$missing" ] || hack/install-cni.sh --plugins-only

log "reliability suite, full form"
CRISP_RELIABILITY=full go test -tags "$CRISP_TAGS" -count=1 -timeout 90m -v ./test/reliability/ "$@"
