#!/bin/bash
# Smoke test run inside a crisp test guest by vm-test.sh:
#   smoke.sh CONTROLLER...
# Prints /sys/fs/cgroup/cgroup.controllers and checks that it is a pure cgroup
# v2 hierarchy offering every CONTROLLER, then starts bin/crisp, waits for its
# socket and checks that "crictl version" reports RuntimeName crisp.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
ENDPOINT=unix:///run/crisp/crisp.sock
SOCKET=${ENDPOINT#unix://}

fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}

controllers=$(</sys/fs/cgroup/cgroup.controllers)
echo "cgroup.controllers: $controllers"
[[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]] || fail "/sys/fs/cgroup is not cgroup2"
! awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/mounts || fail "cgroup v1 hierarchies are mounted"
for c in "$@"; do
	[[ " $controllers " == *" $c "* ]] || fail "controller $c missing"
done

[[ -x $REPO/bin/crisp ]] || fail "$REPO/bin/crisp missing (run make build)"
command -v crictl >/dev/null || fail "crictl not in PATH"

tmp=$(mktemp -d)
"$REPO/bin/crisp" --root "$tmp/lib" --state /run/crisp --listen "$ENDPOINT" >"$tmp/crisp.log" 2>&1 &
pid=$!
stop() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap stop EXIT

for ((i = 0; i < 300; i++)); do
	[[ -S $SOCKET ]] && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/crisp.log" >&2; fail "crisp exited before creating $SOCKET"; }
	sleep 0.1
done
[[ -S $SOCKET ]] || { cat "$tmp/crisp.log" >&2; fail "no socket $SOCKET after 30s"; }

printf 'runtime-endpoint: %s\ntimeout: 30\n' "$ENDPOINT" >"$tmp/crictl.yaml"
out=$(crictl --config "$tmp/crictl.yaml" --runtime-endpoint "$ENDPOINT" version) ||
	{ cat "$tmp/crisp.log" >&2; fail "crictl version failed"; }
echo "$out"
grep -Eq '^RuntimeName:[[:space:]]+crisp$' <<<"$out" || fail "RuntimeName is not crisp"
echo "smoke: OK ($CRISP_VM guest)"
