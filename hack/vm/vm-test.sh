#!/bin/bash
# crisp tests inside the cgroup v2 guests ("make vm-test" runs this).
#
# usage:
#   hack/vm/vm-test.sh [smoke] [uml|qemu]...
#       Builds or reuses the guest image, then in each guest (default: both)
#       prints cgroup.controllers and runs guest/smoke.sh: start bin/crisp,
#       wait for unix:///run/crisp/crisp.sock, check "crictl version".
#   hack/vm/vm-test.sh go-test [--uml|--qemu] [RUN-OPTION...] PACKAGE... [-- TESTFLAG...]
#       Compiles each package's tests on the host ("go test -c") and runs the
#       binaries as root in the guest (default: uml), each in its package
#       directory, printing go test style "ok"/"FAIL" lines. RUN-OPTIONs
#       (--timeout, --mem, --cpus, --env, --share, --copy) go to the front end;
#       TESTFLAGs go to every test binary, e.g. -- -test.v -test.run TestFoo.
#       CRISP_GO_TAGS sets the build tags.
# Exits non-zero on any failure.
set -euo pipefail
# shellcheck source=hack/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CRICTL_VERSION=v1.37.0
# Build tags for test binaries; keep in step with TAGS in the Makefile.
CRISP_GO_TAGS=${CRISP_GO_TAGS:-containers_image_openpgp exclude_graphdriver_btrfs grpcnotrace nri_no_wasm}

export PATH=$PATH:/usr/local/go/bin

# ensure_crictl: crictl on the host (hack/install-tools.sh installs the same
# version; a fresh machine may not have run it).
ensure_crictl() {
	command -v crictl >/dev/null && return 0
	vm_log "installing crictl $CRICTL_VERSION"
	GOBIN=/usr/local/bin go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
}

# smoke GUEST: print the guest's controllers, run crisp + crictl version.
smoke() {
	local guest=$1 controllers
	case $guest in
	uml) controllers="cpu io memory pids" ;;
	qemu) controllers="cpuset cpu io memory hugetlb pids" ;;
	*) vm_die "unknown guest $guest (uml or qemu)" ;;
	esac
	vm_log "=== $guest guest smoke test"
	# shellcheck disable=SC2086
	"$VM_DIR/$guest-run.sh" --timeout 600 --copy "$(command -v crictl)" -- \
		"$VM_DIR/guest/smoke.sh" $controllers
}

cmd_smoke() {
	local guests=("$@") g t0 failed=()
	((${#guests[@]})) || guests=(uml qemu)
	[[ -x $REPO_ROOT/bin/crisp ]] || vm_die "bin/crisp missing: run make build"
	ensure_crictl
	t0=$EPOCHREALTIME
	vm_log "guest image: $(vm_image_dir) (ready after $(vm_elapsed "$t0")s)"
	for g in "${guests[@]}"; do
		smoke "$g" || failed+=("$g")
	done
	if ((${#failed[@]})); then
		vm_log "FAIL: smoke test failed in: ${failed[*]}"
		exit 1
	fi
	vm_log "PASS: smoke test passed in: ${guests[*]}"
}

cmd_go_test() {
	local guest=uml run_opts=() pkgs=() testflags=()
	while (($#)); do
		case $1 in
		--uml) guest=uml; shift ;;
		--qemu) guest=qemu; shift ;;
		--timeout | --mem | --cpus | --env | --share | --copy) run_opts+=("$1" "$2"); shift 2 ;;
		--) shift; testflags=("$@"); break ;;
		-*) vm_die "go-test: unknown option $1" ;;
		*) pkgs+=("$1"); shift ;;
		esac
	done
	((${#pkgs[@]})) || vm_die "go-test: no packages given"

	local out
	out=$(mktemp -d "${TMPDIR:-/tmp}/crisp-vm-gotest.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$out'" EXIT
	# IMPORT_PATH DIR for every package that has tests.
	local list
	list=$(go list -tags "$CRISP_GO_TAGS" \
		-f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' "${pkgs[@]}")
	local pkg dir bin manifest=$out/manifest copies=()
	: >"$manifest"
	while read -r pkg dir; do
		[[ -n $pkg ]] || continue
		bin=${pkg//\//_}.test
		vm_log "compiling $pkg"
		go test -c -tags "$CRISP_GO_TAGS" -o "$out/$bin" "$pkg"
		echo "$pkg $dir /crisp-vm/bin/$bin" >>"$manifest"
		copies+=(--copy "$out/$bin")
	done <<<"$list"
	[[ -s $manifest ]] || vm_die "go-test: no test files in ${pkgs[*]}"
	copies+=(--copy "$manifest")

	# Not exec: the EXIT trap removes the binaries afterwards.
	"$VM_DIR/$guest-run.sh" "${run_opts[@]}" "${copies[@]}" -- \
		"$VM_DIR/guest/go-test.sh" /crisp-vm/bin/manifest "${testflags[@]}"
}

case ${1:-smoke} in
smoke) shift $(($# > 0 ? 1 : 0)); cmd_smoke "$@" ;;
go-test) shift; cmd_go_test "$@" ;;
uml | qemu) cmd_smoke "$@" ;;
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
*) vm_die "unknown subcommand $1 (smoke, go-test, --help)" ;;
esac
