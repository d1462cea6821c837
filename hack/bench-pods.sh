#!/usr/bin/env bash
# Pod sandbox benchmark: crisp against containerd + runc (the peer, see
# hack/peers/containerd.sh) on the same machine and the same CNI network.
# Each runtime in turn, one after the other, runs in a network namespace of
# its own made here (its bridge and veths never touch the host's network),
# and test/bench/podbench drives it through N iterations of
# RunPodSandbox -> StopPodSandbox -> RemovePodSandbox. Prints both medians
# and the ratio crisp/containerd (target: <= 0.25). Missing the target is
# reported, not an error; any failure to run is.
#
# Usage: hack/bench-pods.sh [ITERATIONS]       (root; default 50)
# Environment:
#   CRISP_BIN       crisp binary (default bin/crisp, built with make build if missing)
#   PODBENCH_FLAGS  extra podbench flags for both runtimes, e.g. "-share-pid"
#   CONTAINERD_VERSION, CRISP_PEERS_CACHE  see hack/peers/containerd.sh
# First use installs the CNI plugins (hack/install-cni.sh --plugins-only),
# Debian's runc, and builds containerd from the Go module proxy.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
. hack/peers/containerd.sh
require_root

ITERATIONS=${1:-50}
[[ $ITERATIONS =~ ^[1-9][0-9]*$ ]] || die "ITERATIONS must be a positive number, got '$ITERATIONS'"
TARGET=0.25
CRISP_BIN=${CRISP_BIN:-$REPO_ROOT/bin/crisp}
read -r -a EXTRA_FLAGS <<<"${PODBENCH_FLAGS:-}"

# Short, because daemon sockets live inside it.
WORK=$(mktemp -d /var/tmp/crisp-bench-pods.XXXXXX)
RUN_ID=${WORK##*.}
# Pods' cgroups go below a parent of this run's own, removed at the end.
CGROUP_ROOT=/crisp-bench-$RUN_ID
CRISP_PID=""
CRISP_ENDPOINT=""
NETNS=()

cleanup() {
	local rc=$? leftovers=()
	set +e
	stop_crisp
	containerd_peer_stop "$WORK/containerd"
	local ns
	for ns in "${NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || leftovers+=("network namespace $ns")
	done
	local m
	awk -v d="$WORK/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" || log "could not unmount $m"
	done
	# Kubelet removes pod cgroup parents; here that is this script's job.
	local cg
	for cg in /sys/fs/cgroup/"${CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
		[ -d "$cg" ] || continue
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$cg" ] || leftovers+=("cgroup $cg")
	done
	rm -rf "$WORK" || leftovers+=("$WORK")
	if [ ${#leftovers[@]} -gt 0 ]; then
		printf 'bench-pods: left behind: %s\n' "${leftovers[@]}" >&2
		[ $rc -ne 0 ] || rc=1
	fi
	[ $rc -eq 0 ] || echo "bench-pods: FAILED (exit $rc)" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# new_netns NAME makes a network namespace with loopback up; the daemon
# started in it builds the pod bridge there.
new_netns() {
	ip netns add "$1"
	NETNS+=("$1")
	ip netns exec "$1" ip link set lo up
}

# wait_socket PATH PID: until PATH is a socket, failing if PID exits.
wait_socket() {
	local i
	for i in $(seq 300); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_crisp NETNS starts crisp in NETNS, setting CRISP_PID and
# CRISP_ENDPOINT.
start_crisp() {
	local dir=$WORK/crisp netns=$1
	mkdir -p "$dir"
	# crisp needs cgroup v2: the whole tree on a pure v2 host, the cgroup2
	# mount of a hybrid one.
	local cgmount=/sys/fs/cgroup
	[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cgmount=/sys/fs/cgroup/unified
	[ "$(stat -fc %T "$cgmount" 2>/dev/null)" = cgroup2fs ] || die "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified"
	cat >"$dir/crisp.toml" <<EOF
root = "$dir/root"
state = "$dir/state"
[grpc]
address = "unix://$dir/crisp.sock"
[cgroup]
driver = "cgroupfs"
mount = "$cgmount"
missing_controller = "warn"
[cni]
conf_dir = "$WORK/cni/net.d"
bin_dirs = ["/opt/cni/bin"]
EOF
	setsid nsenter "--net=$netns" -- "$CRISP_BIN" --config "$dir/crisp.toml" >"$dir/crisp.log" 2>&1 </dev/null &
	CRISP_PID=$!
	wait_socket "$dir/crisp.sock" "$CRISP_PID" || {
		tail -n 30 "$dir/crisp.log" >&2
		die "crisp did not serve on $dir/crisp.sock"
	}
	CRISP_ENDPOINT=unix://$dir/crisp.sock
}

stop_crisp() {
	[ -n "$CRISP_PID" ] || return 0
	kill -TERM "$CRISP_PID" 2>/dev/null || true
	local i
	for i in $(seq 150); do
		kill -0 "$CRISP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$CRISP_PID" 2>/dev/null || true
	wait "$CRISP_PID" 2>/dev/null || true
	CRISP_PID=""
}

# bench NAME ENDPOINT runs podbench against ENDPOINT, leaving the result in
# $WORK/NAME.json.
bench() {
	log "$1: $ITERATIONS x RunPodSandbox -> StopPodSandbox -> RemovePodSandbox"
	"$WORK/podbench" -endpoint "$2" -label "$1" -n "$ITERATIONS" -cgroup-root "$CGROUP_ROOT" \
		-json "$WORK/$1.json" "${EXTRA_FLAGS[@]}"
}

# field NAME KEY reads a number from podbench's one-line JSON result.
field() {
	sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p" "$WORK/$1.json"
}

# What both runtimes need.
hack/install-cni.sh --plugins-only
for p in bridge host-local portmap loopback; do
	[ -x "/opt/cni/bin/$p" ] || die "CNI plugin $p missing from /opt/cni/bin"
done
containerd_peer_install
if [ ! -x "$CRISP_BIN" ]; then
	log "building $CRISP_BIN"
	make build
fi
go build -o "$WORK/podbench" ./test/bench/podbench

# One network for both: a bridge on a private subnet, leases in WORK.
mkdir -p "$WORK/cni/net.d" "$WORK/cni/ipam"
cat >"$WORK/cni/net.d/10-bench.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "crisp-bench",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "benchbr0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$WORK/cni/ipam",
        "ranges": [[{ "subnet": "10.234.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF

# crisp first, then containerd: never both at once.
new_netns "crisp-bench-$RUN_ID-crisp"
start_crisp "/run/netns/crisp-bench-$RUN_ID-crisp"
bench crisp "$CRISP_ENDPOINT"
stop_crisp

new_netns "crisp-bench-$RUN_ID-containerd"
endpoint=$(containerd_peer_start "$WORK/containerd" --cni-conf-dir "$WORK/cni/net.d" --cni-bin-dir /opt/cni/bin \
	--netns "/run/netns/crisp-bench-$RUN_ID-containerd")
bench containerd "$endpoint"
containerd_peer_stop "$WORK/containerd"

c=$(field crisp median_ms)
p=$(field containerd median_ms)
[ -n "$c" ] && [ -n "$p" ] || die "podbench results incomplete"
echo
echo "pod sandbox churn on $(nproc) cores, $ITERATIONS iterations each, median wall time of RunPodSandbox+StopPodSandbox+RemovePodSandbox:"
printf '  crisp       %8.2f ms  (p90 %.2f ms)\n' "$c" "$(field crisp p90_ms)"
printf '  containerd  %8.2f ms  (p90 %.2f ms)  %s + runc\n' "$p" "$(field containerd p90_ms)" "$CONTAINERD_VERSION"
awk -v c="$c" -v p="$p" -v t="$TARGET" 'BEGIN {
	r = c / p
	printf "  ratio crisp/containerd: %.3f  target <= %.2f: %s\n", r, t, (r <= t ? "MET" : "NOT MET")
}'
