#!/usr/bin/env bash
# Runs the test cluster's control plane on this host, inside a network
# namespace of its own: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler, built by hack/cluster/build.sh. See docs/cluster.md.
#
# usage: hack/cluster/control-plane.sh start|stop|status
#
# start  makes the network namespace CLUSTER_NETNS ("crisp-cluster") with
#        loopback and the bridge br0, the cluster's private L2 network, at
#        CONTROL_PLANE_IP/24 (10.77.0.1); nodes join it later as qemu guests
#        on tap devices of that bridge (qemu-run.sh --tap, run inside the
#        namespace). It makes the certificates (hack/cluster/pki.sh) and
#        starts the four daemons in the namespace, then waits for the API
#        server's /readyz. The host's own network is never touched: nothing
#        of the cluster is reachable from outside the namespace.
# stop   stops every process in the namespace (the daemons and whatever was
#        started in it later), deletes the namespace with its bridge, copies
#        the logs to CLUSTER_LOGS (_output/cluster) and removes the work
#        directory. Safe to run when nothing is running.
# status prints what runs.
#
# Everything lives in CLUSTER_WORK (/var/tmp/crisp-cluster): pki/
# (certificates and kubeconfigs), etcd/ (data), logs/, pids/.
# hack/cluster/kubectl.sh runs kubectl as the cluster's admin.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh
require_root

REPO=$PWD
LOGS=${CLUSTER_LOGS:-$REPO/_output/cluster}
PKI=$CLUSTER_WORK/pki
# The order the daemons start in; stop goes the other way.
DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
READY_TIMEOUT=${CLUSTER_READY_TIMEOUT:-240}

netns_exists() { ip netns list | awk -v ns="$CLUSTER_NETNS" '$1 == ns { f = 1 } END { exit !f }'; }
in_ns() { ip netns exec "$CLUSTER_NETNS" "$@"; }

# spawn NAME CMD...: runs CMD in the namespace in a session of its own, its
# output in logs/NAME.log, its pid in pids/NAME.pid.
spawn() {
	local name=$1
	shift
	setsid ip netns exec "$CLUSTER_NETNS" "$@" </dev/null >>"$CLUSTER_WORK/logs/$name.log" 2>&1 &
	echo $! >"$CLUSTER_WORK/pids/$name.pid"
}

# wait_for WHAT TIMEOUT CMD...: retries CMD every second until it succeeds.
wait_for() {
	local what=$1 timeout=$2 i
	shift 2
	for ((i = 0; i < timeout; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 1
	done
	die "$what not ready after ${timeout}s (logs: $CLUSTER_WORK/logs)"
}

alive() {
	local pid
	pid=$(cat "$CLUSTER_WORK/pids/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# check_alive NAME: dies with the end of NAME's log when it exited.
check_alive() {
	alive "$1" && return 0
	tail -n 30 "$CLUSTER_WORK/logs/$1.log" >&2 || true
	die "$1 exited"
}

apiserver_ready() {
	check_alive kube-apiserver
	[ "$(in_ns "$CLUSTER_BIN/kubectl" --kubeconfig "$PKI/admin.conf" get --raw /readyz 2>/dev/null)" = ok ]
}

start_network() {
	ip netns add "$CLUSTER_NETNS"
	ip -n "$CLUSTER_NETNS" link set lo up
	ip -n "$CLUSTER_NETNS" link add "$CLUSTER_BRIDGE" type bridge
	ip -n "$CLUSTER_NETNS" addr add "$CONTROL_PLANE_IP/$CLUSTER_PREFIX_LEN" dev "$CLUSTER_BRIDGE"
	ip -n "$CLUSTER_NETNS" link set "$CLUSTER_BRIDGE" up
	# Routes to the nodes' pod networks go through this namespace too.
	in_ns sysctl -qw net.ipv4.ip_forward=1
}

start() {
	if netns_exists; then
		die "network namespace $CLUSTER_NETNS exists: the cluster runs (hack/cluster/control-plane.sh stop)"
	fi
	local b
	for b in etcd "${K8S_COMPONENTS[@]}"; do
		[ -x "$CLUSTER_BIN/$b" ] || die "no $CLUSTER_BIN/$b: run hack/cluster/build.sh"
	done
	local t0=$SECONDS
	# A failed start leaves nothing behind.
	trap 'log "start failed; stopping"; stop' EXIT
	rm -rf "$CLUSTER_WORK"
	mkdir -p "$CLUSTER_WORK"/{logs,pids,etcd}
	chmod 700 "$CLUSTER_WORK" "$CLUSTER_WORK/etcd"
	hack/cluster/pki.sh "$PKI"
	start_network

	log "starting etcd $ETCD_VERSION"
	spawn etcd "$CLUSTER_BIN/etcd" \
		--name control-plane \
		--data-dir "$CLUSTER_WORK/etcd" \
		--listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster control-plane=http://127.0.0.1:2380 \
		--log-level warn
	etcd_healthy() {
		check_alive etcd
		in_ns curl -sf http://127.0.0.1:2379/health | grep -q '"health":"true"'
	}
	wait_for etcd 60 etcd_healthy

	log "starting kube-apiserver $KUBERNETES_VERSION"
	spawn kube-apiserver "$CLUSTER_BIN/kube-apiserver" \
		--advertise-address="$CONTROL_PLANE_IP" \
		--bind-address=0.0.0.0 \
		--secure-port="$APISERVER_PORT" \
		--etcd-servers=http://127.0.0.1:2379 \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC \
		--enable-admission-plugins=NodeRestriction \
		--allow-privileged=true \
		--enable-bootstrap-token-auth=true \
		--client-ca-file="$PKI/ca.crt" \
		--tls-cert-file="$PKI/apiserver.crt" \
		--tls-private-key-file="$PKI/apiserver.key" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP,Hostname \
		--service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
		--requestheader-allowed-names=front-proxy-client \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--requestheader-group-headers=X-Remote-Group \
		--requestheader-username-headers=X-Remote-User \
		--proxy-client-cert-file="$PKI/front-proxy-client.crt" \
		--proxy-client-key-file="$PKI/front-proxy-client.key" \
		--profiling=false
	wait_for kube-apiserver "$READY_TIMEOUT" apiserver_ready

	log "starting kube-controller-manager and kube-scheduler"
	spawn kube-controller-manager "$CLUSTER_BIN/kube-controller-manager" \
		--kubeconfig="$PKI/controller-manager.conf" \
		--authentication-kubeconfig="$PKI/controller-manager.conf" \
		--authorization-kubeconfig="$PKI/controller-manager.conf" \
		--bind-address=127.0.0.1 \
		--leader-elect=false \
		--controllers='*,bootstrapsigner,tokencleaner' \
		--use-service-account-credentials=true \
		--allocate-node-cidrs=true \
		--cluster-cidr="$CLUSTER_CIDR" \
		--node-cidr-mask-size="$NODE_CIDR_MASK" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--cluster-signing-cert-file="$PKI/ca.crt" \
		--cluster-signing-key-file="$PKI/ca.key" \
		--root-ca-file="$PKI/ca.crt" \
		--service-account-private-key-file="$PKI/sa.key" \
		--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
		--profiling=false
	spawn kube-scheduler "$CLUSTER_BIN/kube-scheduler" \
		--kubeconfig="$PKI/scheduler.conf" \
		--authentication-kubeconfig="$PKI/scheduler.conf" \
		--authorization-kubeconfig="$PKI/scheduler.conf" \
		--bind-address=127.0.0.1 \
		--leader-elect=false \
		--profiling=false
	healthz() {
		check_alive "$1"
		[ "$(in_ns curl -sk "https://127.0.0.1:$2/healthz")" = ok ]
	}
	wait_for kube-controller-manager 120 healthz kube-controller-manager 10257
	wait_for kube-scheduler 120 healthz kube-scheduler 10259
	trap - EXIT
	log "control plane up in $((SECONDS - t0))s: https://$CONTROL_PLANE_IP:$APISERVER_PORT in network namespace $CLUSTER_NETNS; hack/cluster/kubectl.sh runs kubectl"
}

stop() {
	local i name pid pids f
	# Nodes first, so that they copy their logs.
	for f in "$CLUSTER_WORK"/pids/crisp-node-*.pid; do
		[ -e "$f" ] || continue
		f=${f##*/crisp-node-}
		hack/cluster/node.sh stop "${f%.pid}" || true
	done
	# The daemons, newest first, then anything else left in the namespace
	# (nodes' qemu guests, tools started there).
	for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
		name=${DAEMONS[i]}
		pid=$(cat "$CLUSTER_WORK/pids/$name.pid" 2>/dev/null) || continue
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if netns_exists; then
		pids=$(ip netns pids "$CLUSTER_NETNS" || true)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086
			kill $pids 2>/dev/null || true
			sleep 2
			pids=$(ip netns pids "$CLUSTER_NETNS" || true)
			# shellcheck disable=SC2086
			[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		fi
		for _ in $(seq 50); do
			[ -z "$(ip netns pids "$CLUSTER_NETNS" 2>/dev/null)" ] && break
			sleep 0.2
		done
		# Deleting the namespace deletes its bridge and tap devices.
		ip netns del "$CLUSTER_NETNS"
	fi
	if [ -d "$CLUSTER_WORK/logs" ]; then
		rm -rf "$LOGS"
		mkdir -p "$LOGS"
		cp -r "$CLUSTER_WORK/logs/." "$LOGS/"
		log "control plane logs: $LOGS"
	fi
	rm -rf "$CLUSTER_WORK"
}

status() {
	local name rc=0
	if netns_exists; then
		echo "network namespace $CLUSTER_NETNS: $(ip -n "$CLUSTER_NETNS" -br addr show "$CLUSTER_BRIDGE" 2>/dev/null)"
	else
		echo "network namespace $CLUSTER_NETNS: none"
		rc=1
	fi
	for name in "${DAEMONS[@]}"; do
		if alive "$name"; then
			echo "$name: running, pid $(cat "$CLUSTER_WORK/pids/$name.pid")"
		else
			echo "$name: not running"
			rc=1
		fi
	done
	return $rc
}

main() {
	case ${1:-} in
	start) start ;;
	stop) stop ;;
	status) status ;;
	*) die "usage: $0 start|stop|status" ;;
	esac
}

# One line: bash reads a script as it runs it, so a file changed under a
# running script must not feed it more commands once main returns.
main "$@"; exit
