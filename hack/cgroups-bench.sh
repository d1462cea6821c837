#!/bin/bash
# Benchmarks crisp's pkg/cgroups against runc's cgroup v2 manager
# (github.com/opencontainers/cgroups fs2, also used by containerd) doing the
# same work, side by side in the pure cgroup v2 user-mode Linux guest, and
# prints time and allocation ratios (crisp / peer: below 1 means crisp is
# faster or leaner).
#
# usage: hack/cgroups-bench.sh [uml|qemu] [BENCHTIME]   (default: uml 200x)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST=${1:-uml}
BENCHTIME=${2:-200x}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The peer lives in its own module so crisp never depends on it; -mod=mod
# lets it follow crisp's go.mod as that changes.
(cd "$REPO/hack/cgroups-peer" && GOFLAGS=-mod=mod go test -c -o "$WORK/peer.test" .)

"$REPO/hack/vm/$GUEST-run.sh" -q --timeout 900 --copy "$WORK/peer.test" -- \
	peer.test -test.run '^$' -test.bench . -test.benchmem -test.benchtime "$BENCHTIME" -test.count 5 | tee "$WORK/out"

# Median of the five runs per benchmark, then crisp / runc-fs2.
awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	split(name, p, "/"); bench = p[1]; impl = p[2]
	for (i = 2; i <= NF; i++) {
		if ($(i) == "ns/op") ns[bench, impl] = ns[bench, impl] " " $(i-1)
		if ($(i) == "allocs/op") al[bench, impl] = al[bench, impl] " " $(i-1)
	}
	benches[bench] = 1
}
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return a[int((n + 1) / 2)]
}
END {
	printf "\n%-22s %14s %14s %8s %10s %10s %8s\n", "benchmark", "crisp ns/op", "runc ns/op", "ratio", "crisp allocs", "runc allocs", "ratio"
	for (b in benches) {
		c = median(ns[b, "crisp"]); r = median(ns[b, "runc-fs2"])
		ca = median(al[b, "crisp"]); ra = median(al[b, "runc-fs2"])
		printf "%-22s %14d %14d %8.2f %10d %10d %8.2f\n", b, c, r, (r > 0 ? c / r : 0), ca, ra, (ra > 0 ? ca / ra : 0)
	}
}' "$WORK/out"
