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
# Usage: hack/bench-pods.sh [ITERATIONS [ROUNDS]]   (root; default 50 and 1)
# ROUNDS > 1 repeats the pair with fresh daemons, alternating which runtime
# goes first, and compares the medians of the rounds' medians: steadier on a
# machine whose load changes.
# Environment:
#   CRISP_BIN       crisp binary (default bin/crisp, built with make build if missing)
#   PODBENCH_FLAGS  extra podbench flags for both runtimes, e.g. "-share-pid"
#   CONTAINERD_VERSION, CRISP_PEERS_CACHE  see hack/peers/containerd.sh
# First use installs the CNI plugins (hack/install-cni.sh --plugins-only)
# and builds containerd and runc from the Go module proxy (hack/peers).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
. hack/bench-lib.sh
. hack/peers/containerd.sh
require_root

ITERATIONS=${1:-50}
ROUNDS=${2:-1}
[[ $ITERATIONS =~ ^[1-9][0-9]*$ ]] || die "ITERATIONS must be a positive number, got '$ITERATIONS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, got '$ROUNDS'"
TARGET=0.25
CRISP_BIN=${CRISP_BIN:-$REPO_ROOT/bin/crisp}
read -r -a EXTRA_FLAGS <<<"${PODBENCH_FLAGS:-}"

# Short, because daemon sockets live inside it.
WORK=$(mktemp -d /var/tmp/crisp-bench-pods.XXXXXX)
RUN_ID=${WORK##*.}
# Pods' cgroups go below a parent of this run's own, removed at the end.
CGROUP_ROOT=/crisp-bench-$RUN_ID

cleanup() {
	local rc=$?
	set +e
	bench_crisp_stop
	containerd_peer_stop "$WORK/containerd"
	bench_cleanup_host || [ $rc -ne 0 ] || rc=1
	[ $rc -eq 0 ] || echo "bench-pods: FAILED (exit $rc)" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
bench_install

# One network for both: a bridge on a private subnet, leases in WORK.
bench_write_conflist

bench_new_netns "crisp-bench-$RUN_ID-crisp"
bench_new_netns "crisp-bench-$RUN_ID-containerd"

# bench_crisp R and bench_containerd R run round R with a freshly started
# daemon, stopped again before the other one starts.
bench_crisp() {
	bench_crisp_start "$CRISP_BIN" "$WORK/crisp" "/run/netns/crisp-bench-$RUN_ID-crisp"
	bench "crisp-$1" "unix://$CRISP_DIR/crisp.sock"
	bench_crisp_stop
}
bench_containerd() {
	local endpoint
	endpoint=$(containerd_peer_start "$WORK/containerd" --cni-conf-dir "$WORK/cni/net.d" --cni-bin-dir /opt/cni/bin \
		--netns "/run/netns/crisp-bench-$RUN_ID-containerd")
	bench "containerd-$1" "$endpoint"
	containerd_peer_stop "$WORK/containerd"
}

# Never both at once. With several rounds the order alternates, so a change
# in the machine's load over time does not favour one runtime.
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then
		bench_crisp "$r"
		bench_containerd "$r"
	else
		bench_containerd "$r"
		bench_crisp "$r"
	fi
done

echo
echo "pod sandbox churn on $(nproc) cores, median wall time of RunPodSandbox+StopPodSandbox+RemovePodSandbox"
echo "over $ITERATIONS iterations per runtime and round; crisp $("$CRISP_BIN" version 2>/dev/null | awk 'NR == 1 {print $NF}'), containerd $CONTAINERD_VERSION + runc $("$CONTAINERD_PEER_RUNC" --version | awk 'NR == 1 {print $3}')"
results=()
for r in $(seq "$ROUNDS"); do
	c=$(field "crisp-$r" median_ms)
	p=$(field "containerd-$r" median_ms)
	if [ -z "$c" ] || [ -z "$p" ]; then die "podbench results of round $r incomplete"; fi
	results+=("$c $p $(field "crisp-$r" p90_ms) $(field "containerd-$r" p90_ms)")
done
printf '%s\n' "${results[@]}" | awk -v t="$TARGET" -v rounds="$ROUNDS" '
function median(a, n,    i, j, x) { # sorts a[1..n] in place
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	c[NR] = $1; p[NR] = $2
	if (rounds > 1) printf "  round %d: crisp %.2f ms (p90 %.2f), containerd %.2f ms (p90 %.2f), ratio %.3f\n", NR, $1, $3, $2, $4, $1 / $2
	else printf "  crisp       %8.2f ms  (p90 %.2f ms)\n  containerd  %8.2f ms  (p90 %.2f ms)\n", $1, $3, $2, $4
}
END {
	mc = median(c, NR); mp = median(p, NR); r = mc / mp
	if (rounds > 1) printf "  median of the %d rounds: crisp %.2f ms, containerd %.2f ms\n", NR, mc, mp
	printf "  ratio crisp/containerd: %.3f  target <= %.2f: %s\n", r, t, (r <= t ? "MET" : "NOT MET")
}'
