#!/usr/bin/env bash
# runtime-tools.sh runs the OCI runtime-tools validation suite
# (github.com/opencontainers/runtime-tools, validation/*) against
# `crisp oci`, or against runc or crun on the same host for comparison.
#
# It fetches the pinned module from the Go module proxy into a cache
# directory, builds runtimetest and one binary per validation program (what
# the suite's `make runtimetest validation-executables` does), and runs each
# program with RUNTIME pointing at a wrapper of
# `crisp oci --cgroup-mount <mount> --missing-controller warn`. Every
# program prints TAP; the script keeps each program's output under the
# results directory and prints one line per program and the totals.
#
# A program passes when it exits 0, reports no "not ok" and, when it
# reports no test at all, prints no diagnostic with an error (how the
# lifecycle programs report failures). A program that expects the runtime to refuse a config
# (process_capabilities_fail, ...) prints no TAP at all and exits 0 when
# it was refused.
#
# Usage: hack/runtime-tools.sh [-r crisp|runc|crun] [-o results-dir] [program...]
#   (default: crisp, all programs; run as root)
#
#   RUNTIME_TOOLS_CACHE  where the module is built (default
#                        /var/cache/crisp/runtime-tools)
#   CGROUP_MOUNT         cgroup2 mount passed to crisp (default: the host's,
#                        /sys/fs/cgroup/unified on a hybrid host)
#   PROGRAM_TIMEOUT      seconds one program may run (default 120)
#   RUNTIME_TOOLS_VERSION  the suite's module version (default: the pin below)
#   CRISP_BIN            a crisp binary to test (default: make build, bin/crisp);
#                        in a guest, with the suite built on the host:
#     hack/vm/uml-run.sh --share /var/cache/crisp/runtime-tools --share /tmp/rt \
#       --env CRISP_BIN=$PWD/bin/crisp -- hack/runtime-tools.sh -o /tmp/rt linux_cgroups_pids
set -euo pipefail

cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

# A commit of the suite newer than its last release (v0.9.0): its
# validation programs follow runtime-spec 1.3. Peers that only know spec
# 1.0 configs (crun 1.8) need an older one, v0.9.1-0.20230914150019-408c51e934dc.
RUNTIME_TOOLS_VERSION=${RUNTIME_TOOLS_VERSION:-v0.9.1-0.20251205004911-5e639034dcdc}

runtime=crisp
results=
while getopts r:o: opt; do
	case $opt in
	r) runtime=$OPTARG ;;
	o) results=$OPTARG ;;
	*) die "usage: $0 [-r crisp|runc|crun] [-o results-dir] [program...]" ;;
	esac
done
shift $((OPTIND - 1))

cache=${RUNTIME_TOOLS_CACHE:-/var/cache/crisp/runtime-tools}
src=$cache/$RUNTIME_TOOLS_VERSION
timeout=${PROGRAM_TIMEOUT:-120}

cgmount=${CGROUP_MOUNT:-/sys/fs/cgroup}
if [ -z "${CGROUP_MOUNT:-}" ] && [ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]; then
	cgmount=/sys/fs/cgroup/unified # hybrid host
fi

# build_suite copies the module out of the read-only module cache and
# builds the programs once per version.
build_suite() {
	[ -f "$src/.built" ] && return 0
	log "fetching runtime-tools $RUNTIME_TOOLS_VERSION"
	local dir
	dir=$(go mod download -json "github.com/opencontainers/runtime-tools@$RUNTIME_TOOLS_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$dir" ] || die "go mod download gave no directory for runtime-tools@$RUNTIME_TOOLS_VERSION"
	rm -rf "$src"
	mkdir -p "$cache"
	cp -r "$dir" "$src"
	chmod -R u+w "$src"
	log "building runtimetest and the validation programs"
	(
		cd "$src"
		export GOFLAGS="-mod=mod -buildvcs=false"
		rm -rf vendor # the module zip has no vendor/modules.txt: build from the proxy
		CGO_ENABLED=0 go build -tags "netgo osusergo" -o runtimetest ./cmd/runtimetest
		for d in validation/*/; do
			name=$(basename "$d")
			[ "$name" = util ] && continue
			[ -f "$d/$name.go" ] || continue
			go build -o "$d/$name.t" "./$d"
		done
	)
	touch "$src/.built"
}

# wrapper writes the RUNTIME program the suite calls with runc's arguments.
wrapper() {
	local w=$1
	case $runtime in
	crisp)
		local crisp=${CRISP_BIN:-}
		if [ -z "$crisp" ]; then
			make build >/dev/null # bin/crisp and the bin/crisp-oci it hands over to
			crisp=$PWD/bin/crisp
		fi
		cat >"$w" <<-EOF
			#!/bin/sh
			exec $crisp oci --root /run/crisp-runtime-tools --cgroup-mount $cgmount --missing-controller warn "\$@"
		EOF
		;;
	runc | crun)
		# Peers for comparison: Debian's packages.
		local bin
		bin=$(command -v "$runtime") || die "$runtime is not installed (apt-get install $runtime)"
		cat >"$w" <<-EOF
			#!/bin/sh
			exec $bin --root /run/$runtime-runtime-tools "\$@"
		EOF
		;;
	*) die "unknown runtime $runtime" ;;
	esac
	chmod +x "$w"
}

# free_errors counts the diagnostics with a non-empty "error" of a program
# that reports no test: the lifecycle programs (hooks, prestart, ...)
# report their failures only so, under a plan of 1..0.
free_errors() {
	awk '
		/^(not )?ok / { tests++ }
		/^    "error": "./ { n++ }
		END { print tests ? 0 : n + 0 }
	' "$1"
}

build_suite
results=${results:-$(mktemp -d "/tmp/runtime-tools-$runtime.XXXXXX")}
mkdir -p "$results"
wrapper "$results/runtime"

programs=("$@")
if [ ${#programs[@]} -eq 0 ]; then
	for t in "$src"/validation/*/*.t; do programs+=("$(basename "$t" .t)"); done
fi

pass=0 fail=0 cgpass=0 cgtotal=0
failed=()
# The programs find runtimetest and the rootfs tarball in their working
# directory, as under the suite's Makefile.
cd "$src"
for p in "${programs[@]}"; do
	out=$results/$p.tap
	status=0
	case $p in linux_cgroups_*) cgtotal=$((cgtotal + 1)) ;; esac
	RUNTIME=$results/runtime timeout -k 10 "$timeout" "validation/$p/$p.t" >"$out" 2>&1 || status=$?
	notok=$(grep -c '^not ok' "$out" || true)
	ok=$(grep -c '^ok' "$out" || true)
	errors=$(free_errors "$out")
	if [ "$status" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$errors" -eq 0 ]; then
		pass=$((pass + 1))
		case $p in linux_cgroups_*) cgpass=$((cgpass + 1)) ;; esac
		printf 'PASS %-40s %3d ok\n' "$p" "$ok"
	else
		fail=$((fail + 1))
		failed+=("$p")
		printf 'FAIL %-40s %3d ok %3d not ok, %d errors, exit %d\n' "$p" "$ok" "$notok" "$errors" "$status"
	fi
done
printf '\nruntime-tools %s, runtime %s: %d passed, %d failed of %d (outputs in %s)\n' \
	"$RUNTIME_TOOLS_VERSION" "$runtime" "$pass" "$fail" $((pass + fail)) "$results"
printf 'outside linux_cgroups_*: %d of %d; linux_cgroups_*: %d of %d\n' \
	$((pass - cgpass)) $((pass + fail - cgtotal)) "$cgpass" "$cgtotal"
[ ${#failed[@]} -eq 0 ] || printf 'failed: %s\n' "${failed[*]}"
