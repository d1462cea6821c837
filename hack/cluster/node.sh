#!/usr/bin/env bash
# Starts and stops a test cluster node: a qemu guest (hack/vm/qemu-run.sh,
# systemd, pure cgroup v2) on a tap device of the cluster's bridge, running
# crisp and kubelet joined to the control plane of
# hack/cluster/control-plane.sh with the node's pre-made kubeconfig. The
# guest side is test/e2e/cluster/node.sh. See docs/cluster.md.
#
# usage: hack/cluster/node.sh start|stop N      (N = 1, 2: crisp-node-N)
#
# start  builds crisp for the nodes (once per cluster), makes tapN on the
#        bridge and boots the guest in the background, inside the
#        cluster's network namespace; its console and output go to
#        logs/crisp-node-N.log. It returns once the guest has its pod
#        network (WORK/nodes/crisp-node-N/up) or fails.
# stop   asks the guest to stop (WORK/nodes/crisp-node-N/stop), which
#        copies crisp's and kubelet's journals to logs/crisp-node-N/, waits
#        for it to power off (kills it after 60 s) and deletes tapN.
#
#   CLUSTER_NODE_TIMEOUT  seconds before the guest is killed (default 3600)
#   CLUSTER_NODE_MEM      guest memory in MiB (default 2048)
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh
require_root

REPO=$PWD
BIN=${TOOLS_BIN:-/usr/local/bin}
TIMEOUT=${CLUSTER_NODE_TIMEOUT:-3600}
MEM=${CLUSTER_NODE_MEM:-2048}
UP_TIMEOUT=${CLUSTER_NODE_UP_TIMEOUT:-600}

[[ ${2:-} =~ ^[1-9]$ ]] || die "usage: $0 start|stop N (1-9)"
N=$2
NAME=crisp-node-$N
TAP=tap$N
STATE=$CLUSTER_WORK/nodes/$NAME
PIDFILE=$CLUSTER_WORK/pids/$NAME.pid

running() {
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

start() {
	[ -r "$CLUSTER_WORK/pki/kubelet-$NAME.conf" ] || die "no kubeconfig for $NAME: is the control plane up?"
	running && die "$NAME runs"
	[ -x "$BIN/kubelet" ] || die "no $BIN/kubelet: run hack/cluster/build.sh"
	hack/install-cni.sh --plugins-only
	mkdir -p "$CLUSTER_WORK/node" "$CLUSTER_WORK/vm"
	if [ ! -x "$CLUSTER_WORK/node/crisp" ]; then
		log "building crisp for the nodes"
		nice -n 19 go build -tags "$CRISP_TAGS" \
			-ldflags "-X github.com/crisp-runtime/crisp/pkg/version.version=cluster-e2e" \
			-o "$CLUSTER_WORK/node/crisp" ./cmd/crisp
	fi
	rm -rf "$STATE"
	mkdir -p "$STATE"
	ip -n "$CLUSTER_NETNS" link del "$TAP" 2>/dev/null || true
	ip -n "$CLUSTER_NETNS" tuntap add dev "$TAP" mode tap
	ip -n "$CLUSTER_NETNS" link set "$TAP" master "$CLUSTER_BRIDGE" up

	log "booting $NAME at $(node_ip "$N")"
	# The run directory of qemu-run.sh lives in the work directory, which
	# control-plane.sh stop removes.
	TMPDIR=$CLUSTER_WORK/vm setsid ip netns exec "$CLUSTER_NETNS" \
		hack/vm/qemu-run.sh --timeout "$TIMEOUT" --mem "$MEM" --tap "$TAP" \
		--share "$CLUSTER_WORK" --share /opt/cni/bin \
		--copy "$BIN/kubelet" --copy "$CLUSTER_BIN/kubectl" --copy "$BIN/crictl" \
		--env "CLUSTER_DOMAIN=$CLUSTER_DOMAIN" --env "DNS_SERVICE_IP=$DNS_SERVICE_IP" \
		-- "$REPO/test/e2e/cluster/node.sh" "$CLUSTER_WORK" "$NAME" \
		"$(node_ip "$N")/$CLUSTER_PREFIX_LEN" "$CONTROL_PLANE_IP" \
		</dev/null >"$CLUSTER_WORK/logs/$NAME.log" 2>&1 &
	echo $! >"$PIDFILE"
	local i
	for ((i = 0; i < UP_TIMEOUT; i++)); do
		[ -e "$STATE/up" ] && { log "$NAME up in ${i}s"; return 0; }
		running || { tail -n 30 "$CLUSTER_WORK/logs/$NAME.log" >&2; die "$NAME stopped"; }
		sleep 1
	done
	tail -n 30 "$CLUSTER_WORK/logs/$NAME.log" >&2
	die "$NAME not up after ${UP_TIMEOUT}s"
}

stop() {
	local pid i
	if pid=$(cat "$PIDFILE" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then
		: >"$STATE/stop"
		for ((i = 0; i < 60; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		# qemu-run.sh kills its guest and cleans up on TERM.
		kill "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
	ip -n "$CLUSTER_NETNS" link del "$TAP" 2>/dev/null || true
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop N" ;;
esac
