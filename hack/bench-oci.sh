#!/usr/bin/env bash
# bench-oci.sh compares the lifecycle create -> start -> wait -> delete of a
# /bin/true container under crisp and under runc (built as its release is,
# hack/peers/runc.sh), on the same bundle, one run of each per round in a
# random order. It prints both medians and
# the ratio crisp/runc, for two paths:
#
#   cli      `crisp oci run` against `runc run` (each creates, starts, waits
#            and deletes in one command); also `crisp-oci run` called
#            directly, and `crisp oci run` served by crisp itself
#            (CRISP_OCI_IN_PROCESS=1) instead of handed over to crisp-oci
#   library  crisp's Go library (how the daemon runs containers) against the
#            runc command line (how containerd's shim runs it), via
#            `go test -bench BenchmarkLifecycle ./pkg/oci`
#
# and the cost of the CVE-2019-5736 defence (BenchmarkSealedExe).
#
# Usage: hack/bench-oci.sh [iterations]   (default 50; run as root)
set -euo pipefail

cd "$(dirname "$0")/.."
n=${1:-50}
tags='containers_image_openpgp exclude_graphdriver_btrfs grpcnotrace nri_no_wasm'

need() { # command package
	command -v "$1" >/dev/null 2>&1 && return
	apt-get install -y -qq "$2" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
need busybox busybox-static
# shellcheck source=hack/peers/runc.sh
. hack/peers/runc.sh
runc_peer_install
runc=$RUNC_PEER

# `crisp oci` hands over to the crisp-oci beside it: build both, as
# `make install` installs them (crisp-oci is linked statically).
make build >/dev/null
crisp=$PWD/bin/crisp
crisp_oci=$PWD/bin/crisp-oci

cgmount=/sys/fs/cgroup
if [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
	cgmount=/sys/fs/cgroup/unified # hybrid host
fi

work=$(mktemp -d /tmp/crisp-bench-oci.XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
"$crisp" oci spec --bundle "$bundle"
# The default spec, with /bin/true and no terminal.
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$bundle/config.json"
grep -q '"/bin/true"' "$bundle/config.json" || { echo "bench-oci: could not edit config.json" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.3f\n", (e-s)*1000}'; }

# One run of each per round, in a new random order each round: a
# command's run pays for the teardown the kernel finishes after the one
# before it (a network namespace is freed in the background), so none may
# always follow the same one.
runone() { # variant round
	local s=$EPOCHREALTIME
	case $1 in
	crisp) "$crisp" oci --root "$work/crisp-root" --cgroup-mount "$cgmount" run --bundle "$bundle" "c$2" </dev/null ;;
	crisp-oci) "$crisp_oci" --root "$work/crisp-root" --cgroup-mount "$cgmount" run --bundle "$bundle" "d$2" </dev/null ;;
	in-process) CRISP_OCI_IN_PROCESS=1 "$crisp" oci --root "$work/crisp-root" --cgroup-mount "$cgmount" run --bundle "$bundle" "p$2" </dev/null ;;
	runc) "$runc" --root "$work/runc-root" run --bundle "$bundle" "r$2" </dev/null ;;
	esac
	ms "$s" "$EPOCHREALTIME" >>"$work/$1"
}
variants=(crisp crisp-oci in-process runc)
for f in "${variants[@]}"; do : >"$work/$f"; done
for i in $(seq "$n"); do
	for v in $(shuf -e "${variants[@]}"); do
		runone "$v" "$i"
	done
done
r=$(median <"$work/runc")
for variant in "crisp:crisp oci run" "crisp-oci:crisp-oci run" "in-process:crisp oci run in process"; do
	c=$(median <"$work/${variant%%:*}")
	printf 'cli:     %-30s median %s ms, runc run median %s ms, ratio %s (%s runs each)\n' \
		"${variant#*:}" "$c" "$r" "$(awk -v c="$c" -v r="$r" 'BEGIN {printf "%.2f", c/r}')" "$n"
done

# BenchmarkLifecycle's runc is the first on PATH.
out=$(PATH="${runc%/*}:$PATH" go test -tags "$tags" -run '^$' -bench 'BenchmarkLifecycle|BenchmarkSealedExe' -benchtime "${n}x" ./pkg/oci)
c=$(awk '/BenchmarkLifecycle\/crisp/ {print $5}' <<<"$out")
r=$(awk '/BenchmarkLifecycle\/runc/ {print $5}' <<<"$out")
echo "library: crisp median ${c} ms, runc create/start/wait/delete median ${r} ms, ratio $(awk -v c="$c" -v r="$r" 'BEGIN {printf "%.2f", c/r}') ($n runs each)"
awk '/BenchmarkSealedExe/ {sub(/-[0-9]+$/, "", $1); printf "binary defence: %s %.3f ms per Runtime\n", $1, $3/1e6}' <<<"$out"
