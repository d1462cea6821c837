#!/usr/bin/env bash
# Runs the tests that need what crisp's build hosts lack: a pure cgroup v2
# hierarchy with controllers, systemd, CRIU. They run inside the project's
# guests (hack/vm): user-mode Linux for the fast loop, qemu with Debian's
# kernel and systemd for the rest. Called by hack/test.sh; output of the Go
# test binaries goes to $CRISP_TEST_RESULTS/guest-*.log for the final count.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

results=${CRISP_TEST_RESULTS:-$(mktemp -d)}
status=0

# step NAME CMD...: run one guest step, keep its output, remember failure.
step() {
	local name=$1
	shift
	log "guest: $name"
	if ! "$@" 2>&1 | tee "$results/guest-$name.log"; then
		status=1
		log "guest: $name FAILED"
		# hack/test.sh names the failed steps in its last line.
		[ -z "${CRISP_TEST_RESULTS:-}" ] || echo "guest-$name" >>"$CRISP_TEST_RESULTS/failed-steps"
	fi
}

step smoke hack/vm/vm-test.sh smoke uml qemu
# The executor's tests in the user-mode Linux guest: cgroup limits with
# real controllers, all seven namespaces, seccomp.
step uml-go hack/vm/vm-test.sh go-test --uml --timeout 1500 ./pkg/oci/... -- -test.v -test.count=1
# The container tests that need a memory controller (an OOM kill reported
# as OOMKilled) and a container's resource updates with real controllers.
step uml-container hack/vm/vm-test.sh go-test --uml --timeout 600 ./pkg/container/ -- -test.run '^(TestOOMKilled|TestOOMKilledChild|TestUpdateResources)$' -test.v -test.count=1
# An NRI plugin's CPU and unified limits in a real cgroup: the integration
# test against a daemon in the user-mode Linux guest.
make --no-print-directory build >/dev/null
step uml-nri hack/vm/vm-test.sh go-test --uml --timeout 600 --env CRISP_BIN="$PWD/bin/crisp" ./test/integration/ -- -test.run '^TestNRIEventsAndAdjustments$' -test.v -test.count=1
# In the qemu guest, whose Debian kernel enforces AppArmor, runs systemd and
# passes `criu check`: OOM kills with the systemd cgroup driver, whose scope
# cgroups vanish with their last process, AppArmor profiles applied by the
# executor, pods in user namespaces on Debian's 6.1 kernel (idmapped layers
# and volumes), and checkpoint/restore with CRIU (library, `crisp oci`,
# CheckpointContainer's archive read back by checkpointctl and restored by
# CreateContainer, CheckpointPod and RestorePod through a daemon).
step qemu-go hack/vm/vm-test.sh go-test --qemu --timeout 900 --copy "$(command -v checkpointctl)" --env CRISP_BIN="$PWD/bin/crisp" ./pkg/container/ ./pkg/oci/ ./cmd/internal/ocicli/ ./test/integration/ -- -test.run '^(TestPodCheckpointRestoreThroughCRI|TestOOMKilledSystemd|TestAppArmor.*|TestUserNamespace.*|TestJoinedUserNamespaceIDMappedBind|TestNewUserNamespaceIDMappedBind|TestIDMappedMountsRefused|TestContainerUserNamespaceModes|TestCheckpoint.*|TestRestoreFromArchive|TestFailedRestoreLeavesNothing|TestIncrementalSnapshots|TestOCICheckpointRestore)$' -test.v -test.count=1
# pkg/cgroups' tests and cgroup limits end to end through `crisp oci run`: on
# this host, in user-mode Linux (cpu, io, memory, pids) and in qemu (cpuset,
# hugetlb, the systemd driver).
step cgroups-e2e hack/cgroups-e2e.sh all
# critest v1.37.0 against crisp as the qemu guest's systemd service with the
# systemd cgroup driver: the specs this host cannot run (a memory limit and
# the OOM kill, memory statistics), the basic pod and container lifecycle in
# the driver's slices and scopes, a privileged container's devices,
# AppArmor profiles (the guest's kernel enforces AppArmor) and pods in user
# namespaces of their own on Debian's 6.1 kernel. The
# whole suite (hack/critest.sh --qemu) takes too long under TCG for make test
# (docs/critest.md). Its log is named for hack/test.sh's critest count, not
# the guest tests'.
CRITEST_QEMU_FOCUS=${CRITEST_QEMU_FOCUS:-'OOMKilled|stats|metrics|basic operations on (PodSandbox|container)|Privileged is true|AppArmor|UserNamespaces|readonly mount'}
log "guest: critest-qemu"
if ! hack/critest.sh --qemu --ginkgo.focus="$CRITEST_QEMU_FOCUS" >"$results/critest-qemu.log" 2>&1; then
	status=1
	cat "$results/critest-qemu.log"
	log "guest: critest-qemu FAILED"
fi
grep -E '^(Ran [0-9]+ of|SUCCESS!|FAIL!)' "$results/critest-qemu.log" || true
# kubelet v1.37.2 runs static pods on crisp in the qemu guest, with crisp as
# a systemd service (docs/kubelet.md). The guest is killed after 25 minutes.
step kubelet-e2e env KUBELET_E2E_TIMEOUT=1500 hack/kubelet-e2e.sh

exit $status
