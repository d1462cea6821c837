# shellcheck shell=bash
# The checks and waits of the end-to-end scripts (hack/cgroups-e2e.sh,
# test/e2e/kubelet/run.sh, hack/cluster/e2e.sh): each prints "ok   DESC" or
# "FAIL DESC" and is counted in PASSED or FAILED, which the script reports
# and exits on. Source it; do not run it.

PASSED=0 FAILED=0
pass() {
	PASSED=$((PASSED + 1))
	echo "ok   $*"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $*"
}
# check DESC CMD...: pass if CMD succeeds. CMD's stdout goes to CHECK_OUT
# (default the script's; /dev/null keeps the report to the check lines),
# its stderr to the script's, to explain a failure.
check() {
	local desc=$1
	shift
	if "$@" >"${CHECK_OUT:-/dev/stdout}"; then pass "$desc"; else fail "$desc"; fi
}
# wait_for SECONDS CMD...: run CMD every WAIT_INTERVAL seconds (default
# 0.5) until it succeeds; fail once SECONDS have passed.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep "${WAIT_INTERVAL:-0.5}"
	done
}
