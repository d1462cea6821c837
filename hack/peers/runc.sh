#!/usr/bin/env bash
# runc as the peer of crisp's executor and of containerd's shim in the
# benchmarks: built from the Go module proxy at one pinned version the way
# runc's own release binaries are (`make static`: cgo, seccomp through a
# static libseccomp, netgo and osusergo, linked statically), cached under
# $CRISP_PEERS_CACHE. Debian's runc is older and dynamically linked, which
# makes each of its runs slower than a release binary's.
#
# Run it:
#   hack/peers/runc.sh install   build it if missing and print its path
#
# Or source it and call runc_peer_install; RUNC_PEER is the binary.
# Environment: RUNC_VERSION (default v1.5.3), CRISP_PEERS_CACHE.
# Needs root, Go and Debian's apt (libseccomp-dev).

RUNC_PEER_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=hack/lib.sh
. "$RUNC_PEER_REPO/hack/lib.sh"

RUNC_VERSION=${RUNC_VERSION:-v1.5.3}
CRISP_PEERS_CACHE=${CRISP_PEERS_CACHE:-/var/cache/crisp-peers}
RUNC_PEER_MODULE=github.com/opencontainers/runc
RUNC_PEER=$CRISP_PEERS_CACHE/runc-$RUNC_VERSION/bin/runc
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH=$PATH:/usr/local/go/bin ;; esac

# runc_peer_install builds runc at RUNC_VERSION into RUNC_PEER unless a
# static build of that version is there.
runc_peer_install() {
	require_root
	if ! has_module_version "$RUNC_PEER" "$RUNC_PEER_MODULE" "$RUNC_VERSION" ||
		! has_build_setting "$RUNC_PEER" '-tags=.*seccomp.*' ||
		! has_build_setting "$RUNC_PEER" '-ldflags=.*-static.*'; then
		apt_install gcc libseccomp-dev
		log "building runc $RUNC_VERSION (static, seccomp) into ${RUNC_PEER%/*}"
		mkdir -p "${RUNC_PEER%/*}"
		(cd / && GOBIN="${RUNC_PEER%/*}" CGO_ENABLED=1 GOFLAGS=-buildvcs=false \
			go install -tags "seccomp urfave_cli_no_docs netgo osusergo" -ldflags "-extldflags -static" \
			"$RUNC_PEER_MODULE@$RUNC_VERSION")
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case "${1:-}" in
	install)
		runc_peer_install
		echo "$RUNC_PEER"
		;;
	*) die "usage: $0 install" ;;
	esac
fi
