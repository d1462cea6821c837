#!/usr/bin/env bash
# Starts and stops a test cluster node: a qemu guest (hack/vm/qemu-run.sh,
# systemd, pure cgroup v2) on a tap device of the cluster's bridge, running
# crisp and kubelet joined to the control plane of
# hack/cluster/control-plane.sh with the node's pre-made kubeconfig. The
# guest side is test/e2e/cluster/node.sh. See docs/cluster.md.
#
# usage: hack/cluster/node.sh prepare
#        hack/cluster/node.sh start|stop N      (N = 1, 2: crisp-node-N)
#
# prepare  builds what every node shares, once per cluster: crisp and the
#        image archives the nodes load, since they reach no registry:
#        busybox (crisp.test/busybox:e2e), CoreDNS (crisp.test/coredns:e2e,
#        the DNS add-on) and a small image no pod uses
#        (crisp.test/unused:e2e, for kubelet's image garbage collection);
#        installs the CNI plugins. start does it too; run it first when
#        nodes start side by side.
# start  makes tapN on the
#        bridge and boots the guest in the background, inside the
#        cluster's network namespace; its console and output go to
#        logs/crisp-node-N.log. It returns once the guest has its pod
#        network (WORK/nodes/crisp-node-N/up) or fails; then it routes the
#        node's pod CIDR: in the control plane's namespace, and in the other
#        nodes through WORK/routes, which they follow.
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

IMAGE=crisp.test/busybox:e2e
COREDNS_IMAGE=crisp.test/coredns:e2e
UNUSED_IMAGE=crisp.test/unused:e2e

prepare() {
	[ -d "$CLUSTER_WORK/pki" ] || die "no $CLUSTER_WORK/pki: is the control plane up?"
	hack/install-cni.sh --plugins-only
	mkdir -p "$CLUSTER_WORK/node" "$CLUSTER_WORK/vm"
	if [ ! -x "$CLUSTER_WORK/node/crisp" ]; then
		log "building crisp for the nodes"
		nice -n 19 bash -c '. hack/lib.sh && build_crisp "$1" cluster-e2e' - "$CLUSTER_WORK/node/new"
		mv "$CLUSTER_WORK/node/new/crisp-image" "$CLUSTER_WORK/node/crisp-image"
		mv "$CLUSTER_WORK/node/new/crisp" "$CLUSTER_WORK/node/crisp"
		rmdir "$CLUSTER_WORK/node/new"
	fi
	if [ ! -s "$CLUSTER_WORK/node/busybox.tar" ]; then
		nice -n 19 go run -tags "$CRISP_TAGS" ./test/e2e/kubelet/busybox-archive -ref "$IMAGE" \
			"$CLUSTER_WORK/node/busybox.tar.new"
		mv "$CLUSTER_WORK/node/busybox.tar.new" "$CLUSTER_WORK/node/busybox.tar"
	fi
	if [ ! -s "$CLUSTER_WORK/node/coredns.tar" ]; then
		nice -n 19 go run -tags "$CRISP_TAGS" ./test/e2e/cluster/coredns-archive -ref "$COREDNS_IMAGE" \
			-binary "$CLUSTER_BIN/coredns" "$CLUSTER_WORK/node/coredns.tar.new"
		mv "$CLUSTER_WORK/node/coredns.tar.new" "$CLUSTER_WORK/node/coredns.tar"
	fi
	# Any small static binary makes an image of its own (its layer differs
	# from busybox's), which no pod runs: kubelet's image GC may remove it.
	if [ ! -s "$CLUSTER_WORK/node/unused.tar" ]; then
		nice -n 19 go run -tags "$CRISP_TAGS" ./test/e2e/cluster/coredns-archive -ref "$UNUSED_IMAGE" \
			-binary /bin/busybox -name unused "$CLUSTER_WORK/node/unused.tar.new"
		mv "$CLUSTER_WORK/node/unused.tar.new" "$CLUSTER_WORK/node/unused.tar"
	fi
}

if [ "${1:-}" = prepare ]; then
	prepare
	exit
fi
[[ ${2:-} =~ ^[1-9]$ ]] || die "usage: $0 prepare | start|stop N (1-9)"
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
	prepare
	rm -rf "$STATE"
	mkdir -p "$STATE"
	ip -n "$CLUSTER_NETNS" link del "$TAP" 2>/dev/null || true
	ip -n "$CLUSTER_NETNS" tuntap add dev "$TAP" mode tap
	ip -n "$CLUSTER_NETNS" link set "$TAP" master "$CLUSTER_BRIDGE" up

	local attempt rc
	for attempt in 1 2; do
		rc=0
		boot || rc=$?
		if [ $rc -eq 0 ]; then
			add_route
			return 0
		fi
		tail -n 30 "$CLUSTER_WORK/logs/$NAME.log" >&2
		# 125: the guest failed before it ran the node's command (under
		# heavy load its 9p device can come up too late); boot it again.
		[ $rc -eq 125 ] && [ $attempt -eq 1 ] || break
		log "$NAME failed to boot; once more"
	done
	die "$NAME did not come up"
}

# boot: starts the guest and waits until the node is up; returns the guest's
# status when it stops first (125: it never ran the node's command).
boot() {
	local i pid rc
	log "booting $NAME at $(node_ip "$N")"
	# The run directory of qemu-run.sh lives in the work directory, which
	# control-plane.sh stop removes.
	TMPDIR=$CLUSTER_WORK/vm setsid ip netns exec "$CLUSTER_NETNS" \
		hack/vm/qemu-run.sh --timeout "$TIMEOUT" --mem "$MEM" --tap "$TAP" \
		--share "$CLUSTER_WORK" --share /opt/cni/bin \
		--copy "$BIN/kubelet" --copy "$CLUSTER_BIN/kubectl" --copy "$BIN/crictl" \
		--copy "$CLUSTER_BIN/kube-proxy" \
		--env "CLUSTER_DOMAIN=$CLUSTER_DOMAIN" --env "DNS_SERVICE_IP=$DNS_SERVICE_IP" \
		--env "CLUSTER_CIDR=$CLUSTER_CIDR" \
		-- "$REPO/test/e2e/cluster/node.sh" "$CLUSTER_WORK" "$NAME" \
		"$(node_ip "$N")/$CLUSTER_PREFIX_LEN" "$CONTROL_PLANE_IP" \
		</dev/null >>"$CLUSTER_WORK/logs/$NAME.log" 2>&1 &
	pid=$!
	echo $pid >"$PIDFILE"
	for ((i = 0; i < UP_TIMEOUT; i++)); do
		[ -e "$STATE/up" ] && { log "$NAME up in ${i}s"; return 0; }
		if ! kill -0 "$pid" 2>/dev/null; then
			rc=0
			wait "$pid" || rc=$?
			rm -f "$PIDFILE"
			return $((rc == 0 ? 1 : rc))
		fi
		sleep 1
	done
	log "$NAME not up after ${UP_TIMEOUT}s"
	# qemu-run.sh kills its guest and cleans up on TERM.
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
	return 1
}

# add_route: the node's pod CIDR goes to WORK/routes, from which every node
# takes routes to the others' pods, and is routed from the control plane's
# namespace through the node.
add_route() {
	local cidr ip
	cidr=$(cat "$STATE/pod-cidr")
	ip=$(node_ip "$N")
	del_route
	(
		flock 9
		echo "$NAME $cidr $ip" >>"$CLUSTER_WORK/routes"
	) 9>>"$CLUSTER_WORK/routes.lock"
	ip -n "$CLUSTER_NETNS" route replace "$cidr" via "$ip" dev "$CLUSTER_BRIDGE"
}

del_route() {
	local cidr
	(
		flock 9
		[ -e "$CLUSTER_WORK/routes" ] || exit 0
		grep -v "^$NAME " "$CLUSTER_WORK/routes" >"$CLUSTER_WORK/routes.new" || true
		mv "$CLUSTER_WORK/routes.new" "$CLUSTER_WORK/routes"
	) 9>>"$CLUSTER_WORK/routes.lock"
	cidr=$(cat "$STATE/pod-cidr" 2>/dev/null) || return 0
	ip -n "$CLUSTER_NETNS" route del "$cidr" 2>/dev/null || true
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
	del_route
	ip -n "$CLUSTER_NETNS" link del "$TAP" 2>/dev/null || true
}

main() {
	case ${1:-} in
	start) start ;;
	stop) stop ;;
	*) die "usage: $0 prepare | start|stop N" ;;
	esac
}

# One line: bash reads a script as it runs it, so a file changed under a
# running script must not feed it more commands once main returns.
main "$@"; exit
