#!/bin/bash
# End-to-end cgroup tests through `crisp oci run`: containers with limits in
# config.json, checked against the kernel's interface files.
#
# usage: hack/cgroups-e2e.sh [host|uml|qemu|all]   (default: all)
#   host  this machine's cgroup2 mount; on a hybrid host that is
#         /sys/fs/cgroup/unified: placement, freeze, kill, and the clear
#         missing-controller error for a memory limit
#   uml   user-mode Linux guest: memory/OOM, cpu.max, pids.max, freeze,
#         kill, live update
#   qemu  qemu guest with systemd: the uml set plus cpuset, hugetlb and the
#         systemd driver (scopes under kubepods.slice)
# pkg/cgroups' go tests run first in each environment, so a guest boots once
# for both. Prints "N passed, M failed" per environment; exits non-zero on a
# failure.
# Every container, cgroup and unit it makes is removed, and checked to be.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$REPO/hack/cgroups-e2e.sh"
# Where the test cgroups live, below the hierarchy root.
E2E_CGROUP=crisp-e2e

. "$REPO/test/e2e/checks.sh"
# wait_for (test/e2e/checks.sh) polls every 50 ms.
WAIT_INTERVAL=0.05

# --- host side: build crisp, make the bundles, start the guests -----------

ensure_packages() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

# bundle NAME CGROUPSPATH RESOURCES_JSON SH_SCRIPT: a bundle whose process
# runs SH_SCRIPT with busybox sh and whose cgroup has RESOURCES_JSON.
bundle() {
	local dir="$WORK/bundles/$1"
	mkdir -p "$dir"
	"$WORK/crisp" oci spec -b "$dir"
	python3 - "$dir/config.json" "$WORK/rootfs" "$2" "$3" "$4" <<'EOF'
import json, sys
path, rootfs, cgpath, resources, script = sys.argv[1:]
c = json.load(open(path))
c["root"] = {"path": rootfs, "readonly": True}
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", script]
c["linux"]["cgroupsPath"] = cgpath
c["linux"]["resources"] = json.loads(resources)
json.dump(c, open(path, "w"), indent=1)
EOF
}

prepare() {
	ensure_packages busybox-static python3
	WORK=$(mktemp -d /var/tmp/crisp-cgroups-e2e.XXXXXX)
	OWN_WORK=1
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	(cd "$REPO" && . hack/lib.sh && build_crisp "$WORK")
	# pkg/cgroups' own tests ride along, so each guest boots once.
	(cd "$REPO" && go test -c -o "$WORK/cgroups.test" ./pkg/cgroups)
	mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/proc" "$WORK/rootfs/dev" "$WORK/rootfs/sys" "$WORK/rootfs/tmp"
	cp /bin/busybox "$WORK/rootfs/bin/busybox"
	local c
	for c in sh dd sleep cat echo true seq; do ln -s busybox "$WORK/rootfs/bin/$c"; done

	local mib=$((1 << 20)) spin='while :; do :; done'
	bundle place "/$E2E_CGROUP/place" '{}' 'sleep 1000 & sleep 1000 & '"$spin"
	bundle memerr "/$E2E_CGROUP/memerr" "{\"memory\":{\"limit\":$((32 * mib))}}" 'true'
	bundle oom "/$E2E_CGROUP/oom" "{\"memory\":{\"limit\":$((32 * mib)),\"swap\":$((32 * mib))}}" \
		'dd if=/dev/zero of=/dev/null bs=64M count=1; echo survived'
	bundle cpu "/$E2E_CGROUP/cpu" '{"cpu":{"quota":10000,"period":100000}}' "$spin"
	bundle pids "/$E2E_CGROUP/pids" '{"pids":{"limit":8}}' \
		'sh -c '"'"'i=0; while [ $i -lt 40 ]; do sleep 1000 & i=$((i+1)); done'"'"'; exec sleep 1000'
	bundle update "/$E2E_CGROUP/update" "{\"memory\":{\"limit\":$((32 * mib)),\"swap\":$((32 * mib))}}" 'sleep 1000'
	bundle cpuset "/$E2E_CGROUP/cpuset" '{"cpu":{"cpus":"0","mems":"0"}}' 'sleep 1000'
	bundle hugetlb "/$E2E_CGROUP/hugetlb" "{\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":$((4 * mib))}]}" 'sleep 1000'
	bundle systemd "kubepods-crispe2e.slice:crisp:e2e" "{\"memory\":{\"limit\":$((48 * mib))},\"pids\":{\"limit\":100}}" 'sleep 1000'
	bundle sysdefault "" '{}' 'sleep 1000'
}

# --- both sides: the scenarios -------------------------------------------

oci() { "$WORK/crisp" oci --root "$STATE" --cgroup-mount "$CG" "$@"; }
cg() { echo "$CG/$E2E_CGROUP/$1"; }
# field FILE KEY prints KEY's value from a flat keyed file.
field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
run_detached() { oci run -d -b "$WORK/bundles/$1" "$1" </dev/null >/dev/null; }
stopped() { oci state "$1" | grep -q '"status": "stopped"'; }
unpopulated() { [[ ! -s $1/cgroup.procs ]]; }
usage() { field "$1/cpu.stat" usage_usec; }
has() { grep -qw "$1" "$CG/cgroup.controllers"; }
gone() { [[ ! -e $1 ]]; }
forks_refused() { [[ $(field "$1/pids.events" max) -gt 0 ]]; }
pids_near_limit() {
	local cur max
	cur=$(cat "$1/pids.current") max=$(cat "$1/pids.max")
	((cur <= max && cur >= max - 1))
}
remove() {
	oci delete --force "$1" >/dev/null 2>&1 || true
}

scenario_place_freeze_kill() {
	run_detached place || { fail "place: container did not start"; return; }
	local d n u1 u2
	d=$(cg place)
	# run returns once sh runs; its two sleeps follow (slowly under TCG).
	for _ in $(seq 100); do
		n=$(wc -l <"$d/cgroup.procs")
		((n >= 3)) && break
		sleep 0.05
	done
	check "place: the container's three processes are in its cgroup ($n)" test "$n" -eq 3
	oci pause place
	check "freeze: cgroup.events reports frozen 1" test "$(field "$d/cgroup.events" frozen)" = 1
	u1=$(usage "$d")
	sleep 0.3
	u2=$(usage "$d")
	check "freeze: no CPU progress while frozen ($u1 -> $u2)" test "$u1" -eq "$u2"
	oci resume place
	u1=$(usage "$d")
	sleep 0.3
	u2=$(usage "$d")
	check "thaw: CPU progress resumes ($u1 -> $u2)" test "$u2" -gt $((u1 + 10000))
	oci kill --all place KILL
	check "kill: every process is gone" wait_for 5 unpopulated "$d"
	remove place
	check "kill: cgroup removed with the container" gone "$d"
}

scenario_missing_memory() {
	local out
	if out=$(oci run -b "$WORK/bundles/memerr" memerr 2>&1 </dev/null); then
		fail "missing controller: a memory limit ran on a mount without the memory controller"
	else
		check "missing controller: the error names the memory controller" grep -q 'controller "memory" is not available' <<<"$out"
	fi
	remove memerr
	check "missing controller: nothing left behind" gone "$(cg memerr)"
}

scenario_oom() {
	run_detached oom || { fail "oom: container did not start"; return; }
	local d
	d=$(cg oom)
	check "oom: 64 MiB under memory.max 32 MiB stops the container" wait_for 20 stopped oom
	check "oom: memory.events counts the OOM kill" test "$(field "$d/memory.events" oom_kill)" -ge 1
	remove oom
	check "oom: cgroup removed" gone "$d"
}

scenario_cpu() {
	local d start end
	# From before the start: the container's setup runs under the quota.
	start=$(date +%s%N)
	run_detached cpu || { fail "cpu: container did not start"; return; }
	d=$(cg cpu)
	sleep 2
	end=$(date +%s%N)
	local used throttled limit
	used=$(usage "$d")
	throttled=$(field "$d/cpu.stat" nr_throttled)
	limit=$(((end - start) / 1000 / 10 + 150000))
	check "cpu: cpu.max 10% throttles (nr_throttled $throttled)" test "$throttled" -gt 0
	check "cpu: usage $used µs within 10% of $(((end - start) / 1000)) µs (+150 ms)" test "$used" -le "$limit"
	remove cpu
}

scenario_pids() {
	run_detached pids || { fail "pids: container did not start"; return; }
	local d
	d=$(cg pids)
	check "pids: pids.max refuses the fork bomb (pids.events max > 0)" wait_for 10 forks_refused "$d"
	# The bomb filled all 8 slots; the shell that forked them then exited.
	check "pids: the survivors fill pids.max but for the exited bomb shell ($(cat "$d/pids.current") of 8)" pids_near_limit "$d"
	remove pids
	check "pids: cgroup removed" gone "$d"
}

scenario_update() {
	run_detached update || { fail "update: container did not start"; return; }
	local d
	d=$(cg update)
	check "update: memory.max starts at 32 MiB" test "$(cat "$d/memory.max")" = $((32 << 20))
	oci update --memory $((64 << 20)) --memory-swap $((64 << 20)) update
	check "update: live update sets memory.max to 64 MiB" test "$(cat "$d/memory.max")" = $((64 << 20))
	remove update
}

scenario_cpuset() {
	run_detached cpuset || { fail "cpuset: container did not start"; return; }
	local d pid
	d=$(cg cpuset)
	pid=$(head -1 "$d/cgroup.procs")
	check "cpuset: the process may run on CPU 0 only" test "$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/status")" = 0
	remove cpuset
}

scenario_hugetlb() {
	run_detached hugetlb || { fail "hugetlb: container did not start"; return; }
	check "hugetlb: hugetlb.2MB.max is 4 MiB" test "$(cat "$(cg hugetlb)/hugetlb.2MB.max")" = $((4 << 20))
	remove hugetlb
}

scenario_systemd() {
	local d=$CG/kubepods.slice/kubepods-crispe2e.slice/crisp-e2e.scope
	run_detached systemd || { fail "systemd: container did not start"; return; }
	check "systemd: scope crisp-e2e.scope is active" systemctl -q is-active crisp-e2e.scope
	check "systemd: scope is delegated" test "$(systemctl show -P Delegate crisp-e2e.scope)" = yes
	check "systemd: scope lives under kubepods.slice" test -d "$d"
	check "systemd: memory.max is 48 MiB" test "$(cat "$d/memory.max")" = $((48 << 20))
	remove systemd
	check "systemd: scope cgroup removed" gone "$d"
	check "systemd: no scope unit left" eval '! systemctl -q is-active crisp-e2e.scope'
	systemctl stop kubepods-crispe2e.slice 2>/dev/null || true
	# runc's --systemd-cgroup: a spec without a cgroup path gets a scope
	# in system.slice.
	d=$CG/system.slice/crisp-sysdefault.scope
	oci --systemd-cgroup run -d -b "$WORK/bundles/sysdefault" sysdefault </dev/null >/dev/null ||
		{ fail "systemd: --systemd-cgroup container did not start"; return; }
	check "systemd: --systemd-cgroup default is crisp-sysdefault.scope in system.slice" test -d "$d"
	check "systemd: crisp-sysdefault.scope is active" systemctl -q is-active crisp-sysdefault.scope
	remove sysdefault
	check "systemd: crisp-sysdefault.scope removed" gone "$d"
}

# cleanup removes every container and test cgroup, whatever state the run
# stopped in.
cleanup() {
	local id
	[[ -n ${STATE:-} ]] || { [[ -z ${OWN_WORK:-} ]] || rm -rf "$WORK"; return 0; }
	for id in place memerr oom cpu pids update cpuset hugetlb systemd sysdefault; do
		oci delete --force "$id" >/dev/null 2>&1 || true
	done
	if [[ -d $CG/$E2E_CGROUP ]]; then
		echo 1 >"$CG/$E2E_CGROUP/cgroup.kill" 2>/dev/null || true
		find "$CG/$E2E_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
	fi
	if [[ -d /run/systemd/system ]]; then
		systemctl stop kubepods-crispe2e.slice 2>/dev/null || true
	fi
	rm -rf "$STATE"
	if [[ -n ${OWN_WORK:-} ]]; then rm -rf "$WORK"; fi
}

# unit_tests runs pkg/cgroups' test binary, kernel tests included.
unit_tests() {
	local out=$WORK/go-test-$mode.log
	# A test binary run by hand has no timeout of its own; a hung test must
	# fail with its goroutines dumped, well before the guest's own timeout.
	if (cd "$WORK" && ./cgroups.test -test.v -test.count=1 -test.timeout=5m >"$out" 2>&1); then
		pass "go test ./pkg/cgroups: $(grep -c '^--- PASS' "$out") passed, $(grep -c '^--- SKIP' "$out") skipped"
		# Skips name their missing precondition.
		grep -A1 '^=== RUN' "$out" | grep -E '^\s+\S+_test.go:[0-9]+: needs' | sed 's/^\s*/     skip: /' | sort -u
	else
		grep -E '^(--- FAIL|\s+\S+_test.go|panic: )' "$out" | head -40
		# A timeout panics: show the test that hung and where it waits.
		grep -q '^panic: test timed out' "$out" && grep -A60 '^panic: test timed out' "$out" | head -80
		fail "go test ./pkg/cgroups"
	fi
}

# guest MODE WORK: run the scenarios for MODE (host, uml or qemu).
guest() {
	local mode=$1
	WORK=$2
	CG=/sys/fs/cgroup
	if [[ $(stat -f -c %T "$CG") != cgroup2fs ]]; then
		CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
		[[ -n $CG ]] || { echo "no cgroup2 mount" >&2; return 1; }
	fi
	# Container state needs FIFOs, which the guests' shared directories
	# (hostfs, 9p) cannot hold.
	STATE=$(mktemp -d /run/crisp-cgroups-e2e.XXXXXX)
	# An interrupted run must not leave containers or cgroups behind.
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	# A reader that goes away (| head) must not kill the run mid-way.
	trap '' PIPE
	echo "=== cgroups e2e ($mode, $CG: $(cat "$CG/cgroup.controllers"))"
	unit_tests
	scenario_place_freeze_kill
	if has memory; then
		scenario_oom
		scenario_update
	else
		scenario_missing_memory
	fi
	if has cpu; then scenario_cpu; fi
	if has pids; then scenario_pids; fi
	if [[ $mode == qemu ]]; then
		if has cpuset; then scenario_cpuset; fi
		if has hugetlb && [[ -e /sys/kernel/mm/hugepages/hugepages-2048kB ]]; then scenario_hugetlb; fi
		if [[ -d /run/systemd/system ]]; then scenario_systemd; fi
	fi
	rmdir "$CG/$E2E_CGROUP" 2>/dev/null || true
	check "no cgroup left behind" gone "$CG/$E2E_CGROUP"
	echo "cgroups e2e ($mode): $PASSED passed, $FAILED failed"
	((FAILED == 0))
}

main() {
	if [[ ${1:-} == --guest ]]; then
		guest "$2" "$3"
		return
	fi
	local envs=${1:-all} rc=0
	case $envs in
	host | uml | qemu) envs=("$envs") ;;
	all) envs=(host uml qemu) ;;
	*)
		echo "usage: $0 [host|uml|qemu|all]" >&2
		exit 2
		;;
	esac
	prepare
	local e
	for e in "${envs[@]}"; do
		case $e in
		host) guest host "$WORK" || rc=1 ;;
		*) "$REPO/hack/vm/$e-run.sh" -q --timeout 900 --share "$WORK" -- "$SELF" --guest "$e" "$WORK" || rc=1 ;;
		esac
	done
	return $rc
}

main "$@"
