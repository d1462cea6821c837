#!/usr/bin/env bash
# bench-checkpoint.sh times a checkpoint and a restore of the same counting
# container under `crisp oci` and under runc (Debian's runc), alternating one
# round of each, in the qemu guest (CRIU needs a kernel `criu check`
# accepts; Debian's criu 3.17.1 does all the CRIU work for both). Each round:
# run -d, checkpoint (the container stops), restore -d, kill, delete. Prints
# the medians of checkpoint, restore and their sum per runtime, and the
# ratio crisp/runc of the sums (target <= 1.0: CRIU's work is shared, the
# runtime's own must not add to it). The container's stdio are pipes, as
# under a CRI runtime's monitor.
#
# usage: hack/bench-checkpoint.sh [rounds]   (default 20; root)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

# guest WORK ROUNDS: the part that runs in the guest.
guest() {
	local n=$2 rt i s e
	work=$1
	set -E
	command -v criu >/dev/null || { echo "bench-checkpoint: no criu in the guest"; exit 1; }
	criu check >/dev/null 2>&1 || { echo "bench-checkpoint: criu check fails: $(criu check 2>&1 | tail -1)"; exit 1; }
	trap 'rc=$?; [ $rc -eq 0 ] || { echo "bench-checkpoint: failed ($rc)"; tail -n 20 "$work"/crisp.log "$work"/runc.log 2>/dev/null; }' EXIT
	# State, bundle and images on the guest's own disk: the shared
	# directory (9p) has no fifos, and must not slow either runtime.
	local disk=/var/lib/crisp-bench-checkpoint
	rm -rf "$disk"
	mkdir -p "$disk"
	cp -a "$work/bundle" "$disk/bundle"
	cp "$work/crisp" "$disk/crisp"
	# Pipes for the containers' stdio: a reader that never writes, a
	# writer that discards.
	exec 3< <(sleep 100000) 4> >(cat >/dev/null)
	ms() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }'; }
	cli() { # RUNTIME ARGS...
		case $1 in
		crisp) shift; "$disk/crisp" oci --root "$disk/crisp-root" --log "$work/crisp.log" "$@" ;;
		runc) shift; runc --root "$disk/runc-root" --log "$work/runc.log" "$@" ;;
		esac
	}
	: >"$work/crisp.times"
	: >"$work/runc.times"
	for i in $(seq "$n"); do
		for rt in crisp runc; do
			rm -rf "$disk/images"
			cli "$rt" run -d --bundle "$disk/bundle" "c$i" <&3 >&4 2>&4
			# Let it count a little: a dump of a process still starting
			# measures nothing.
			sleep 0.3
			s=$EPOCHREALTIME
			cli "$rt" checkpoint --image-path "$disk/images" "c$i" <&3 >&4 2>&4
			e=$EPOCHREALTIME
			cli "$rt" delete --force "c$i" >/dev/null 2>&1 || true
			local c r
			c=$(ms "$s" "$e")
			s=$EPOCHREALTIME
			cli "$rt" restore -d --bundle "$disk/bundle" --image-path "$disk/images" "r$i" <&3 >&4 2>&4
			e=$EPOCHREALTIME
			r=$(ms "$s" "$e")
			[[ $(cli "$rt" state "r$i" 2>/dev/null) == *'"status": "running"'* || $(cli "$rt" state "r$i" 2>/dev/null) == *'"status":"running"'* ]] ||
				{ echo "bench-checkpoint: $rt's restored container is not running" >&2; exit 1; }
			cli "$rt" kill "r$i" KILL >/dev/null 2>&1 || true
			cli "$rt" delete --force "r$i" >/dev/null 2>&1 || true
			echo "$c $r" >>"$work/$rt.times"
		done
	done
	median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
	local cc cr cs rc rr rs
	cc=$(awk '{ print $1 }' "$work/crisp.times" | median)
	cr=$(awk '{ print $2 }' "$work/crisp.times" | median)
	cs=$(awk '{ print $1 + $2 }' "$work/crisp.times" | median)
	rc=$(awk '{ print $1 }' "$work/runc.times" | median)
	rr=$(awk '{ print $2 }' "$work/runc.times" | median)
	rs=$(awk '{ print $1 + $2 }' "$work/runc.times" | median)
	echo "checkpoint + restore of a counting busybox container, $n rounds, medians (ms), $(uname -r), criu $(criu --version | awk '/Version/ { print $2 }'), $(runc --version | head -1)"
	printf '  %-6s checkpoint %8.1f  restore %8.1f  sum %8.1f\n' crisp "$cc" "$cr" "$cs" runc "$rc" "$rr" "$rs"
	awk -v c="$cs" -v r="$rs" 'BEGIN { x = c / r; printf "  ratio crisp/runc: %.3f  target <= 1.0: %s\n", x, (x <= 1.0 ? "met" : "NOT MET") }'
}

if [ "${1:-}" = guest ]; then
	guest "$2" "$3"
	exit
fi

. hack/lib.sh
require_root
n=${1:-20}
[[ $n =~ ^[1-9][0-9]*$ ]] || die "rounds must be a positive number, got '$n'"
apt_install runc busybox-static
work=$(mktemp -d /var/tmp/crisp-bench-checkpoint.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
build_crisp "$work"
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/sh"
ln -s busybox "$bundle/rootfs/bin/sleep"
"$work/crisp" oci spec --bundle "$bundle"
# No terminal; a counter that also keeps 16 MiB of memory, so the dump
# has pages to write.
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = ["sh", "-c", "x=$(head -c 16777216 /dev/zero | tr '\\0' a); i=0; while :; do i=$((i+1)); sleep 0.05; done"]
s["root"]["readonly"] = False
json.dump(s, open(p, "w"))
EOF
ln -s busybox "$bundle/rootfs/bin/head"
ln -s busybox "$bundle/rootfs/bin/tr"
log "checkpoint benchmark in the qemu guest ($n rounds)"
hack/vm/qemu-run.sh --timeout 1800 --mem 2048 --share "$work" --copy "$(command -v runc)" \
	-- "$REPO/hack/bench-checkpoint.sh" guest "$work" "$n"
