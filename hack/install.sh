#!/usr/bin/env bash
# Installs crisp and what the daemon needs on this machine. Idempotent; run
# by `make install` after `make build`. Files the admin may have edited
# (crictl.yaml, registries.conf, CNI configs) are never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

PREFIX=${PREFIX:-/usr/local}

for bin in crisp crisp-image crisp-oci; do
	[ -x "bin/$bin" ] || die "bin/$bin is missing: run make build"
done

log "installing crisp, crisp-image and crisp-oci to $PREFIX/bin"
# The helpers first: crisp pulls with the crisp-image beside it, and
# `crisp oci` hands over to the crisp-oci beside it.
for bin in crisp-image crisp-oci crisp; do
	install -D -m 0755 "bin/$bin" "$PREFIX/bin/$bin.new"
	mv -f "$PREFIX/bin/$bin.new" "$PREFIX/bin/$bin" # atomic: a running daemon keeps its inode
done

install -d -m 0755 /etc/crisp
install -d -m 0711 /var/lib/crisp

# Kernel pieces containers and pod networks use.
for mod in overlay br_netfilter veth bridge; do
	modprobe -q "$mod" 2>/dev/null || true
done

# Pod networking: the standard CNI plugins and, if none exists, a network.
hack/install-cni.sh

if [ -d /run/systemd/system ]; then
	install -D -m 0644 deploy/systemd/crisp.service /etc/systemd/system/crisp.service
	systemctl daemon-reload
fi
[ -e /etc/crictl.yaml ] || install -m 0644 deploy/crictl.yaml /etc/crictl.yaml
# crisp pulls without it too; the commented default shows where mirrors and
# insecure registries go. -e is false for a dangling symlink, which an admin
# may point at a file still to be written: leave that alone as well.
if [ ! -e /etc/containers/registries.conf ] && [ ! -L /etc/containers/registries.conf ]; then
	install -D -m 0644 deploy/containers/registries.conf /etc/containers/registries.conf
fi
log "crisp installed: $("$PREFIX/bin/crisp" version | head -1)"
