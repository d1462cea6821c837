#!/bin/bash
# Runs pkg/cgroups' tests, kernel tests included, inside crisp's cgroup v2
# test guests: the user-mode Linux guest (cpu, io, memory, pids) and the
# qemu guest with systemd and every controller (cpuset, hugetlb, the systemd
# driver). The test binary is built on the host and copied in.
#
# usage: hack/cgroups-vm-test.sh [uml|qemu|all] [TEST FLAGS...]
#   e.g. hack/cgroups-vm-test.sh uml -test.run Kernel
# Exits non-zero if any guest run fails.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUESTS=${1:-all}
shift || true
case $GUESTS in
uml) GUESTS=(uml) ;;
qemu) GUESTS=(qemu) ;;
all) GUESTS=(uml qemu) ;;
*)
	echo "usage: $0 [uml|qemu|all] [TEST FLAGS...]" >&2
	exit 2
	;;
esac

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$REPO" && go test -c -o "$WORK/cgroups.test" ./pkg/cgroups)

rc=0
for g in "${GUESTS[@]}"; do
	echo "=== pkg/cgroups in the $g guest"
	"$REPO/hack/vm/$g-run.sh" --timeout 900 --copy "$WORK/cgroups.test" -- \
		cgroups.test -test.v -test.count=1 "$@" || rc=1
done
exit $rc
