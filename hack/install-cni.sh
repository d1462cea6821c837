#!/usr/bin/env bash
# Installs the standard CNI plugins (github.com/containernetworking/plugins,
# pinned) into /opt/cni/bin, and crisp's default bridge network into
# /etc/cni/net.d when that directory holds no network configuration yet.
# Idempotent.
#
#   hack/install-cni.sh                 plugins and default config
#   hack/install-cni.sh --plugins-only  plugins only
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

BIN_DIR=${CNI_BIN_DIR:-/opt/cni/bin}
CONF_DIR=${CNI_CONF_DIR:-/etc/cni/net.d}
MODULE=github.com/containernetworking/plugins
PLUGINS=(
	main/bridge main/ptp main/macvlan main/ipvlan main/host-device main/vlan main/dummy main/tap main/loopback
	ipam/host-local ipam/static ipam/dhcp
	meta/portmap meta/bandwidth meta/firewall meta/tuning meta/sbr meta/vrf
)

# bridge masquerading and portmap program the kernel through iptables.
apt_install iptables

# Static, without cgo, like the plugins' published release binaries: a
# plugin runs once per pod start and stop, and a dynamically linked Go
# binary pays for the loader and libc's thread start-up each time (about a
# third more CPU per run of bridge or host-local here).
missing=()
for p in "${PLUGINS[@]}"; do
	if ! has_module_version "$BIN_DIR/${p#*/}" "$MODULE" "$CNI_PLUGINS_VERSION" ||
		! has_build_setting "$BIN_DIR/${p#*/}" CGO_ENABLED=0; then
		missing+=("$MODULE/plugins/$p@$CNI_PLUGINS_VERSION")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${#missing[@]} CNI plugins $CNI_PLUGINS_VERSION into $BIN_DIR"
	mkdir -p "$BIN_DIR"
	GOBIN="$BIN_DIR" CGO_ENABLED=0 go install "${missing[@]}"
fi

[ "${1:-}" = --plugins-only ] && exit 0

mkdir -p "$CONF_DIR"
if ! ls "$CONF_DIR"/*.conf "$CONF_DIR"/*.conflist "$CONF_DIR"/*.json >/dev/null 2>&1; then
	log "installing the default pod network into $CONF_DIR"
	install -m 0644 deploy/cni/10-crisp-bridge.conflist "$CONF_DIR/10-crisp-bridge.conflist"
fi
