#!/usr/bin/env bash
# Runs crisp's tests, as root: installs the pinned test tools, builds, lints,
# runs every Go test on this host (unit and integration), the race detector
# over the packages that need no kernel objects, and critest
# (hack/critest.sh), then the tests that need a pure cgroup v2 kernel inside
# the project's guests (hack/vm), critest in the qemu guest among them.
#
#   hack/test.sh        everything (what `make test` and CI run)
#   hack/test.sh host   skip the guests
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

mode=${1:-all}
case $mode in all | host) ;; *) die "usage: $0 [all|host]" ;; esac

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

hack/install-tools.sh
make --no-print-directory build
hack/lint.sh

status=0
# failed STEP marks the run failed; the last line names every failed step,
# including a step that failed without a failing test (a package that did
# not build, a guest that did not boot).
failed() {
	status=1
	echo "$1" >>"$results/failed-steps"
}

log "host tests"
CRISP_BIN=$PWD/bin/crisp gotestsum --format pkgname-and-test-fails --jsonfile "$results/host.json" -- \
	-tags "$CRISP_TAGS" -count=1 -timeout 20m ./... || failed host-tests

# The race detector runs over the packages whose tests need neither root
# nor kernel objects (mounts, cgroups, namespaces, processes in them): found
# by reading each package's tests and running them under -race. The others
# exercise the kernel, which the detector cannot see into, and would take
# this step past its few minutes. pkg/errdefs has no tests yet; it is listed
# so the ones it gains run here.
race_packages=(
	./internal/capped
	./pkg/config
	./pkg/criu/criupb
	./pkg/daemon
	./pkg/errdefs
	./pkg/ids
	./pkg/image/transfer
	./pkg/nri
	./pkg/oci/seccomp
	./pkg/pending
	./pkg/proc
	./pkg/registry
	./pkg/store
	./pkg/streaming
	./test/bench/internal/procmem
	./test/bench/podbench
)
log "race detector"
gotestsum --format pkgname-and-test-fails --jsonfile "$results/race.json" -- \
	-race -tags "$CRISP_TAGS" -count=1 -timeout 10m "${race_packages[@]}" || failed race

# crisp-oci is built with another JSON engine behind encoding/json
# (CRISP_OCI_GOEXPERIMENT): crisp's packages it links run their tests
# again under it.
log "crisp-oci's packages under its JSON engine"
mapfile -t oci_packages < <(go list -deps ./cmd/crisp-oci | grep "^$(go list -m)/")
GOEXPERIMENT=$CRISP_OCI_GOEXPERIMENT gotestsum --format pkgname-and-test-fails --jsonfile "$results/crisp-oci-json.json" -- \
	-tags "$CRISP_TAGS" -count=1 -timeout 10m "${oci_packages[@]}" || failed crisp-oci-json

log "critest (CRI validation suite, offline)"
if ! hack/critest.sh >"$results/critest.log" 2>&1; then
	failed critest
	cat "$results/critest.log"
fi
grep -E '^(Ran [0-9]+ of|SUCCESS!|FAIL!)' "$results/critest.log" || true

if [ "$mode" = all ]; then
	log "guest tests"
	CRISP_TEST_RESULTS=$results hack/test-guests.sh || status=1
	[ $status -eq 0 ] || [ -s "$results/failed-steps" ] || failed guests
fi

# One closing line over every Go test that ran, subtests included: the
# host's from go test's JSON, the guests' from their verbose output, and
# critest's specs.
count() {
	local json guest
	json=$(cat "$results"/*.json 2>/dev/null | grep -c "\"Action\":\"$1\",\"Package\":\"[^\"]*\",\"Test\"" || true)
	guest=$(cat "$results"/guest-*.log 2>/dev/null | grep -cE "^[[:space:]]*--- ${1^^}: " || true)
	# hack/cgroups-e2e.sh reports its checks as "ok   ..." and "FAIL ...".
	case $1 in
	pass) guest=$((guest + $(cat "$results"/guest-*.log 2>/dev/null | grep -cE "^ok   " || true))) ;;
	fail) guest=$((guest + $(cat "$results"/guest-*.log 2>/dev/null | grep -cE "^FAIL " || true))) ;;
	esac
	# critest closes with "SUCCESS! -- N Passed | N Failed | N Pending | N Skipped":
	# on this host (critest.log) and in the qemu guest (critest-qemu.log).
	critest=$(grep -hE '^(SUCCESS|FAIL)! -- ' "$results"/critest*.log 2>/dev/null | grep -oE "[0-9]+ ${1^}" | awk '{ n += $1 } END { print n + 0 }' || true)
	echo $((json + guest + critest))
}
echo "tests: $(count pass) passed, $(count fail) failed, $(count skip) skipped"
if [ -s "$results/failed-steps" ]; then
	echo "failed steps: $(paste -sd ' ' "$results/failed-steps")"
fi
exit $status
