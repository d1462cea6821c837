#!/usr/bin/env bash
# kubelet drives crisp, end to end, in the qemu guest (Debian's kernel,
# systemd, pure cgroup v2): the host side. Builds crisp and the busybox image
# archive, installs kubelet (hack/install-kubelet.sh) and the other test
# tools, then boots the guest once and runs test/e2e/kubelet/run.sh in it.
# The daemons' logs end up in _output/kubelet-e2e/ (KUBELET_E2E_LOGS).
# See docs/kubelet.md.
#
# usage: hack/kubelet-e2e.sh
#   KUBELET_E2E_TIMEOUT  seconds before the guest is killed (default 1500)
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

REPO=$PWD
BIN=${TOOLS_BIN:-/usr/local/bin}
TIMEOUT=${KUBELET_E2E_TIMEOUT:-1500}
LOGS=${KUBELET_E2E_LOGS:-$REPO/_output/kubelet-e2e}

main() {
	local start rc
	start=$SECONDS
	hack/install-tools.sh
	WORK=$(mktemp -d /var/tmp/crisp-kubelet-e2e.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
	chmod 755 "$WORK"

	log "building crisp and the busybox image archive"
	build_crisp "$WORK" kubelet-e2e
	go run -tags "$CRISP_TAGS" ./test/e2e/kubelet/busybox-archive -ref crisp.test/busybox:e2e "$WORK/busybox.tar"
	go build -o "$WORK/checkpoint-api" ./test/e2e/kubelet/checkpoint-api

	log "kubelet e2e in the qemu guest"
	rc=0
	hack/vm/qemu-run.sh --timeout "$TIMEOUT" --mem 3072 \
		--share "$WORK" --share /opt/cni/bin \
		--copy "$BIN/kubelet" --copy "$BIN/crictl" --copy "$BIN/checkpointctl" \
		-- "$REPO/test/e2e/kubelet/run.sh" "$WORK" || rc=$?

	rm -rf "$LOGS"
	if [ -d "$WORK/logs" ]; then
		mkdir -p "$(dirname "$LOGS")"
		cp -r "$WORK/logs" "$LOGS"
		log "kubelet and crisp logs: $LOGS"
	fi
	case $rc in
	0) log "kubelet e2e passed in $((SECONDS - start))s" ;;
	124) log "kubelet e2e: the guest timed out after ${TIMEOUT}s" ;;
	*) log "kubelet e2e failed ($rc) after $((SECONDS - start))s" ;;
	esac
	return $rc
}

# One line: bash reads a script as it runs it, so a file changed under a
# running test must not feed it more commands once main returns.
main "$@"; exit
