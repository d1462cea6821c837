#!/usr/bin/env bash
# Pull benchmark: crisp against containerd (the peer) on the same images
# from a loopback registry (test/registry): "random", 50 MiB of incompressible
# data in 5 layers, and "gosrc", the 64 MB / 4,300 files of Go's src/cmd in 4
# gzip layers (many small compressible files, like a real image). Each round
# pulls an image neither side has stored; both unpack the layers onto overlay
# storage. Prints the median pull time and daemon CPU per pull of
# each, and the ratio crisp/containerd (target: <= 1.0).
#
# Usage: hack/bench-pull.sh [ROUNDS]     (root; default 5 rounds)
# Installs what it needs on first use: crictl and containerd/ctr v2.4.2,
# built from the Go module proxy into _output/peer.
set -euo pipefail

ROUNDS=${1:-5}
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
CONTAINERD_VERSION=v2.4.2
CRICTL_VERSION=v1.37.0
PEER=$REPO_ROOT/_output/peer
WORK=$(mktemp -d /var/tmp/crisp-bench-pull.XXXXXX)
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# containerd's snapshots stay mounted only while it runs; be sure.
	grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench-pull: must run as root" >&2; exit 1; }

# Tools, installed idempotently.
mkdir -p "$PEER" "$REPO_ROOT/bin"
if [ ! -x "$PEER/containerd" ] || [ ! -x "$PEER/ctr" ]; then
	echo "bench-pull: building containerd $CONTAINERD_VERSION (first run only)"
	GOBIN=$PEER GOFLAGS=-mod=mod go install \
		"github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
		"github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
fi
CRICTL=$(command -v crictl || true)
if [ -z "$CRICTL" ]; then
	GOBIN=$PEER GOFLAGS=-mod=mod go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	CRICTL=$PEER/crictl
fi
command -v busybox >/dev/null || [ -x /bin/busybox ] || apt-get install -y busybox-static >/dev/null
build_crisp "$REPO_ROOT/bin"
go build -o "$WORK/registry" ./test/registry

# The registry, with one copy of each image per round: every pull is a cold
# pull of layers the node has never stored, and nothing is deleted between
# pulls (ext4 makes inode allocation slow for a while after mass deletion,
# which would penalise whichever side deleted last).
GOSRC=$(go env GOROOT)/src/cmd
images=()
for round in $(seq "$ROUNDS"); do
	images+=(-random "bench/random:$round=50x5" -tree "bench/gosrc:$round=$GOSRC")
done
"$WORK/registry" "${images[@]}" >"$WORK/registry.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1200); do grep -q '^ready' "$WORK/registry.out" && break; sleep 0.1; done
ADDR=$(awk '/^ready/ {print $2}' "$WORK/registry.out")
[ -n "$ADDR" ] || { cat "$WORK/registry.out" >&2; exit 1; }

# crisp, on its own root, state and socket.
mkdir -p "$WORK/crisp"
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$ADDR" >"$WORK/crisp/registries.conf"
cgmount=/sys/fs/cgroup
[ -f /sys/fs/cgroup/cgroup.controllers ] || cgmount=/sys/fs/cgroup/unified
cat >"$WORK/crisp/crisp.toml" <<TOML
root = "$WORK/crisp/root"
state = "$WORK/crisp/run"
[grpc]
address = "unix://$WORK/crisp/run/crisp.sock"
[cgroup]
mount = "$cgmount"
missing_controller = "warn"
[image]
registries_conf = "$WORK/crisp/registries.conf"
registries_conf_dir = "$WORK/crisp/registries.conf.d"
TOML
"$REPO_ROOT/bin/crisp" --config "$WORK/crisp/crisp.toml" >"$WORK/crisp/daemon.log" 2>&1 &
CRISP_PID=$!
PIDS+=($CRISP_PID)

# containerd, without its CRI plugin, on its own root, state and socket.
mkdir -p "$WORK/containerd"
cat >"$WORK/containerd/config.toml" <<TOML
version = 3
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = ["io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/containerd/containerd.sock"
[ttrpc]
  address = "$WORK/containerd/containerd.sock.ttrpc"
TOML
"$PEER/containerd" --config "$WORK/containerd/config.toml" >"$WORK/containerd/daemon.log" 2>&1 &
CONTAINERD_PID=$!
PIDS+=($CONTAINERD_PID)

for sock in "$WORK/crisp/run/crisp.sock" "$WORK/containerd/containerd.sock"; do
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || { echo "bench-pull: $sock did not appear" >&2; tail "$WORK"/*/daemon.log >&2; exit 1; }
done

crictl_() { "$CRICTL" --runtime-endpoint "unix://$WORK/crisp/run/crisp.sock" --image-endpoint "unix://$WORK/crisp/run/crisp.sock" "$@"; }
ctr_() { "$PEER/ctr" --address "$WORK/containerd/containerd.sock" --namespace bench "$@"; }
now() { date +%s%N; }
# CPU time (ms) a daemon and its reaped children have used so far.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15 + $16 + $17) * 1000 / hz)}' "/proc/$1/stat"; }

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# bench REPO DESCRIPTION: ROUNDS pulls of REPO:1..ROUNDS on each side,
# interleaved.
bench() {
	local repo=$1 what=$2 crisp_times=() containerd_times=() crisp_cpu=0 containerd_cpu=0 c0 t0 t1 image
	for round in $(seq "$ROUNDS"); do
		image=$repo:$round
		c0=$(cpu_ms "$CRISP_PID")
		t0=$(now)
		crictl_ pull "$image" >/dev/null
		t1=$(now)
		crisp_times+=($(((t1 - t0) / 1000000)))
		crisp_cpu=$((crisp_cpu + $(cpu_ms "$CRISP_PID") - c0))

		c0=$(cpu_ms "$CONTAINERD_PID")
		t0=$(now)
		ctr_ images pull --plain-http "$image" >/dev/null 2>&1
		t1=$(now)
		containerd_times+=($(((t1 - t0) / 1000000)))
		containerd_cpu=$((containerd_cpu + $(cpu_ms "$CONTAINERD_PID") - c0))
		echo "  round $round: crisp ${crisp_times[-1]} ms, containerd ${containerd_times[-1]} ms"
	done
	local c p
	c=$(median "${crisp_times[@]}")
	p=$(median "${containerd_times[@]}")
	echo "$what: $repo:1..$ROUNDS, median"
	echo "  crisp:      $c ms   (daemon CPU $((crisp_cpu / ROUNDS)) ms per pull)"
	echo "  containerd: $p ms   (daemon CPU $((containerd_cpu / ROUNDS)) ms per pull)"
	awk -v c="$c" -v p="$p" 'BEGIN {printf "  ratio crisp/containerd: %.2f (target <= 1.00)\n", c / p}'
}

bench "$ADDR/bench/random" "random (50 MiB incompressible, 5 layers)"
bench "$ADDR/bench/gosrc" "gosrc (64 MB, 4,300 files, 4 gzip layers)"
