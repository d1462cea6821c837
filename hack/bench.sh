#!/usr/bin/env bash
# crisp against containerd + runc (the peer, hack/peers/containerd.sh), side
# by side on this machine, in one table: per-call medians and p90s of a pod
# with one container through its whole life, pod + container from scratch,
# a cold image pull, and the resident memory of both runtimes idle and with
# HOLD pods running. Each ratio crisp/containerd is checked against its
# target (docs/benchmarks.md). Missing a target is reported, not an error;
# any failure to run is.
#
# Usage: hack/bench.sh [ROUNDS [ITERATIONS]]   (root; default 3 rounds of 30)
#        make bench [ROUNDS=n] [ITERATIONS=n]
#        hack/bench.sh --scale [ROUNDS]        (default 1 round)
#        make bench-scale [ROUNDS=n]
# --scale runs, instead, a full node: BENCH_SCALE_PODS pods (default 500)
# of BENCH_SCALE_CONTAINERS containers (default 2) at once, polled for
# BENCH_SCALE_WINDOW (default 60s) with ListPodSandbox, ListContainers and
# ListContainerStats every second as kubelet's PLEG and stats do, while the
# runtime's CPU time, memory and threads are measured and
# GetContainerEvents is checked to report every container's life (podbench
# -scale-pods). It writes latest-scale.md and latest-scale.json.
# Each round starts both daemons afresh on empty roots, one after the other
# (never both at once), alternating which goes first; the table has the
# medians of the rounds' medians.
# Environment:
#   BENCH_ROUNDS, BENCH_ITERATIONS  defaults of the arguments
#   CRISP_BIN     crisp binary (default bin/crisp, built with make build if missing)
#   BENCH_HOLD    pods with a running container while memory is measured (default 10)
#   BENCH_OUTPUT  where the table is written as latest.md and latest.json
#                 (default _output/bench)
#   PODBENCH_FLAGS  extra podbench flags for both runtimes, e.g. "-settle 5s"
#   BENCH_CRISP_ONLY=1  run crisp alone (to profile it): its results, no table
#   BENCH_CRISP_TOML  more of crisp's configuration (tables after [image]),
#                 e.g. '[metrics]\naddress = "127.0.0.1:9090"' to read its
#                 Go runtime metrics while it runs
#   CONTAINERD_VERSION, CRISP_PEERS_CACHE  see hack/peers/containerd.sh
# First use installs the CNI plugins (hack/install-cni.sh --plugins-only)
# and busybox-static, and builds containerd and runc from the Go module
# proxy (hack/peers).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
. hack/bench-lib.sh
. hack/peers/containerd.sh
require_root

SCALE=""
SCALE_FLAGS=()
if [ "${1:-}" = --scale ]; then
	shift
	SCALE_PODS=${BENCH_SCALE_PODS:-500}
	SCALE_CONTAINERS=${BENCH_SCALE_CONTAINERS:-2}
	SCALE_WINDOW=${BENCH_SCALE_WINDOW:-60s}
	[[ $SCALE_PODS =~ ^[1-9][0-9]*$ && $SCALE_CONTAINERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_PODS and BENCH_SCALE_CONTAINERS must be positive numbers"
	SCALE=1
	SCALE_FLAGS=(-scale-pods "$SCALE_PODS" -scale-containers "$SCALE_CONTAINERS" -scale-window "$SCALE_WINDOW")
	set -- "${1:-1}" 1
fi
ROUNDS=${1:-${BENCH_ROUNDS:-3}}
ITERATIONS=${2:-${BENCH_ITERATIONS:-30}}
HOLD=${BENCH_HOLD:-10}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, got '$ROUNDS'"
[[ $ITERATIONS =~ ^[1-9][0-9]*$ ]] || die "ITERATIONS must be a positive number, got '$ITERATIONS'"
[[ $HOLD =~ ^[1-9][0-9]*$ ]] || die "BENCH_HOLD must be a positive number, got '$HOLD'"
CRISP_BIN=${CRISP_BIN:-$REPO_ROOT/bin/crisp}
read -r -a EXTRA_FLAGS <<<"${PODBENCH_FLAGS:-}"
OUTPUT=${BENCH_OUTPUT:-$REPO_ROOT/_output/bench}
# Both registries listen here, each in its runtime's network namespace.
REGISTRY=127.0.0.1:5000
IMAGE=$REGISTRY/bench/busybox:1

# Short, because daemon sockets live inside it.
WORK=$(mktemp -d /var/tmp/crisp-bench.XXXXXX)
RUN_ID=${WORK##*.}
# Pods' cgroups go below a parent of this run's own, removed at the end.
CGROUP_ROOT=/crisp-bench-$RUN_ID
CONTAINERD_DIR=""
REGISTRY_PIDS=()
REGISTRY_DIGEST=""

cleanup() {
	local rc=$?
	set +e
	bench_crisp_stop
	[ -z "$CONTAINERD_DIR" ] || containerd_peer_stop "$CONTAINERD_DIR"
	local pid
	for pid in "${REGISTRY_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	bench_cleanup_host || [ $rc -ne 0 ] || rc=1
	[ $rc -eq 0 ] || echo "bench: FAILED (exit $rc)" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podbench NAME ENDPOINT MEMORY_FLAGS... runs podbench against ENDPOINT,
# leaving the result in $WORK/results/NAME.json.
podbench() {
	local name=$1 endpoint=$2 mode
	shift 2
	if [ -n "$SCALE" ]; then
		log "$name: pull, $SCALE_PODS pods of $SCALE_CONTAINERS containers at once, polled for $SCALE_WINDOW"
		mode=("${SCALE_FLAGS[@]}")
	else
		log "$name: pull, $ITERATIONS pods with a container, $HOLD pods held"
		mode=(-n "$ITERATIONS" -hold "$HOLD")
	fi
	mkdir -p "$WORK/logs/$name"
	"$WORK/podbench" -endpoint "$endpoint" -label "$name" -cgroup-root "$CGROUP_ROOT" \
		-image "$IMAGE" -log-dir "$WORK/logs/$name" -json "$WORK/results/$name.json" "${mode[@]}" "$@" "${EXTRA_FLAGS[@]}"
}

# bench_crisp R and bench_containerd R run round R on a freshly started
# daemon with an empty root, stopped again before the other one starts.
bench_crisp() {
	bench_drop_page_cache "$CRISP_BIN"
	bench_crisp_start "$CRISP_BIN" "$WORK/crisp-$1" "/run/netns/crisp-bench-$RUN_ID-crisp" \
		"$(printf '[image]\nregistries_conf = "%s"\nregistries_conf_dir = "%s"\n%b' "$WORK/registries.conf" "$WORK/registries.conf.d" "${BENCH_CRISP_TOML:-}")"
	podbench "crisp-$1" "unix://$CRISP_DIR/crisp.sock" -mem-pid "$CRISP_PID" -mem-exe "$CRISP_BIN" || {
		tail -n 30 "$CRISP_DIR/crisp.log" >&2
		die "podbench failed against crisp"
	}
	bench_crisp_stop
	bench_unmount_below "$CRISP_DIR"
	rm -rf "$CRISP_DIR"
}
bench_containerd() {
	CONTAINERD_DIR=$WORK/containerd-$1
	local endpoint pid
	bench_drop_page_cache "$CONTAINERD_PEER_BIN/containerd" "$CONTAINERD_PEER_BIN/containerd-shim-runc-v2" "$CONTAINERD_PEER_RUNC"
	endpoint=$(containerd_peer_start "$CONTAINERD_DIR" --cni-conf-dir "$WORK/cni/net.d" --cni-bin-dir /opt/cni/bin \
		--netns "/run/netns/crisp-bench-$RUN_ID-containerd")
	pid=$(cat "$CONTAINERD_DIR/containerd.pid")
	[ "$(readlink "/proc/$pid/exe")" = "$CONTAINERD_PEER_BIN/containerd" ] || die "pid $pid is not containerd"
	# Its shims are started with -address DIR/containerd.sock.
	podbench "containerd-$1" "$endpoint" -mem-pid "$pid" -mem-arg "$CONTAINERD_DIR/containerd.sock" || {
		tail -n 30 "$CONTAINERD_DIR/containerd.log" >&2
		die "podbench failed against containerd"
	}
	containerd_peer_stop "$CONTAINERD_DIR"
	rm -rf "$CONTAINERD_DIR"
	CONTAINERD_DIR=""
}

# What both runtimes need.
bench_install busybox-static
go build -o "$WORK/registry" ./test/registry
mkdir -p "$WORK/results" "$OUTPUT"

# The header, with the load as the run starts.
header=(
	-header "commit=$(git describe --always --dirty 2>/dev/null || echo unknown)"
	-header "crisp=$("$CRISP_BIN" version 2>/dev/null | awk 'NR == 1 {print $NF}')"
	-header "containerd=$("$CONTAINERD_PEER_BIN/containerd" --version | awk '{print $3}') + runc $("$CONTAINERD_PEER_RUNC" --version | awk 'NR == 1 {print $3}')"
	-header "kernel=$(uname -r)"
	-header "nproc=$(nproc)"
	-header "load average at start=$(cut -d' ' -f1-3 /proc/loadavg)"
)
if [ -n "$SCALE" ]; then
	header+=(-header "runs=$ROUNDS rounds per runtime, order alternating: $SCALE_PODS pods x $SCALE_CONTAINERS containers, polled every second for $SCALE_WINDOW")
else
	header+=(-header "runs=$ROUNDS rounds x $ITERATIONS pods per runtime, order alternating; $HOLD pods held for memory")
fi

# One network for both, and the loopback registry for crisp (containerd
# takes a loopback registry as plain HTTP by default).
bench_write_conflist
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY" >"$WORK/registries.conf"

bench_new_netns "crisp-bench-$RUN_ID-crisp"
bench_new_netns "crisp-bench-$RUN_ID-containerd"
# The same image for both: the registry builds it the same way each time,
# which the digests check.
bench_start_registry "/run/netns/crisp-bench-$RUN_ID-crisp"
digest_crisp=$REGISTRY_DIGEST
bench_start_registry "/run/netns/crisp-bench-$RUN_ID-containerd"
digest_containerd=$REGISTRY_DIGEST
if [ -z "$digest_crisp" ] || [ "$digest_crisp" != "$digest_containerd" ]; then
	die "the two registries serve different images: '$digest_crisp' and '$digest_containerd'"
fi
header+=(-header "image=$IMAGE ($digest_crisp), command /bin/sleep 3600, StopContainer timeout 0")

# Never both at once. The order alternates, so a change in the machine's
# load over time favours neither.
if [ -n "${BENCH_CRISP_ONLY:-}" ]; then
	for r in $(seq "$ROUNDS"); do
		bench_crisp "$r"
	done
	exit 0
fi
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then
		bench_crisp "$r"
		bench_containerd "$r"
	else
		bench_containerd "$r"
		bench_crisp "$r"
	fi
done

crisp_results=() containerd_results=()
for r in $(seq "$ROUNDS"); do
	crisp_results+=("$WORK/results/crisp-$r.json")
	containerd_results+=("$WORK/results/containerd-$r.json")
done
header+=(-header "load average at end=$(cut -d' ' -f1-3 /proc/loadavg)")
echo
latest=latest
[ -z "$SCALE" ] || latest="latest-scale"
"$WORK/podbench" compare "${header[@]}" -md "$OUTPUT/$latest.md" -json "$OUTPUT/$latest.json" \
	"crisp=$(IFS=,; echo "${crisp_results[*]}")" "containerd=$(IFS=,; echo "${containerd_results[*]}")"
echo
echo "RSS and PSS: crisp counts the daemon and its per-container monitors, containerd the daemon and all"
echo "its shims (sums of VmRSS and of Pss); \"anonymous\" is their RssAnon (heap, stacks), \"files\" the rest"
echo "(pages of their binaries). Written to $OUTPUT/$latest.md and $latest.json."
