# shellcheck shell=bash
# Common code for the crisp test guests (hack/vm/*.sh). Source it, don't run it.
#
# The guests give crisp's integration tests a pure cgroup v2 host:
#   - uml-run.sh  : user-mode Linux, boots in ~2 s (cgroup/namespace/network tests)
#   - qemu-run.sh : qemu TCG + Debian kernel + systemd (full e2e)
# Both share the same cached Debian bookworm ext4 image (build-image.sh), the
# same per-run directory layout and the same in-guest runner (guest/run.sh).

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/../.." && pwd)

# Everything cached (debs, images) lives here; override for tests of the harness.
CRISP_VM_CACHE=${CRISP_VM_CACHE:-/var/cache/crisp-vm}
# Debian suite of the guest image.
CRISP_VM_SUITE=bookworm
# Default guest timeout in seconds (a hung guest is killed and reported).
CRISP_VM_TIMEOUT=${CRISP_VM_TIMEOUT:-1200}
# Seconds a guest may take to power off after reporting the command's status.
VM_POWEROFF_GRACE=30

vm_log() { printf 'crisp-vm: %s\n' "$*" >&2; }
vm_die() {
	vm_log "error: $*"
	exit 1
}

# vm_elapsed START [END] prints seconds since START (an $EPOCHREALTIME value).
vm_elapsed() {
	awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'
}

# vm_require_root exits unless running as root (guests need root for images,
# apt and to share files with their ownership intact).
vm_require_root() {
	[[ $EUID -eq 0 ]] || vm_die "must run as root"
}

# vm_ensure_host_packages PKG... installs missing Debian packages on the host.
# Idempotent: does nothing when all are installed.
vm_ensure_host_packages() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	vm_require_root
	vm_log "installing host packages: ${missing[*]}"
	local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends install)
	# A fresh machine may have no package lists yet: update once and retry.
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2; then
		apt-get -q -o DPkg::Lock::Timeout=600 update >&2
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2
	fi
}

# vm_debian_mirror prints the Debian mirror URI that this machine's own apt
# sources use for $CRISP_VM_SUITE (CRISP_VM_MIRROR overrides). Both the
# one-line format (sources.list) and deb822 (*.sources) are understood.
vm_debian_mirror() {
	if [[ -n ${CRISP_VM_MIRROR:-} ]]; then
		echo "$CRISP_VM_MIRROR"
		return
	fi
	local f uri=""
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		uri=$(awk -v suite="$CRISP_VM_SUITE" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) { print $i; exit }
			}' "$f")
		[[ -n $uri ]] && break
	done
	if [[ -z $uri ]]; then
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -r $f ]] || continue
			uri=$(awk -v suite="$CRISP_VM_SUITE" '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uris != "") {
						split(uris, u, " "); print u[1]; found = 1; exit
					}
					types = suites = uris = ""; enabled = ""
				}
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				{
					key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
					if (key == "types") types = $0
					else if (key == "suites") suites = $0
					else if (key == "uris") uris = $0
					else if (key == "enabled") enabled = tolower($0)
				}
				END { if (!found) flush() }' "$f")
			[[ -n $uri ]] && break
		done
	fi
	[[ -n $uri ]] || vm_die "no apt source for '$CRISP_VM_SUITE' found in /etc/apt; set CRISP_VM_MIRROR"
	echo "${uri%/}"
}

# vm_image_dir prints the cached image directory, building it if needed.
vm_image_dir() {
	"$VM_DIR/build-image.sh"
}

# --- per-run state -----------------------------------------------------------
# Options shared by both front ends; vm_parse_args fills these.
VM_TIMEOUT=$CRISP_VM_TIMEOUT
VM_MEM=""
VM_CPUS=""
VM_CWD=""
VM_QUIET=0
VM_SHARES=()
VM_COPIES=()
VM_ENVS=()
VM_TAPS=()
VM_CMD=()

vm_usage() {
	cat >&2 <<EOF
usage: $(basename "$0") [options] -- COMMAND [ARG...]
Runs COMMAND as root inside a pure cgroup v2 guest and exits with its status.
The repository ($REPO_ROOT) is shared into the guest at the same path.

options:
  --timeout SEC   kill the guest after SEC seconds (default $CRISP_VM_TIMEOUT); exit 124
  --mem MB        guest memory in MiB
  --cpus N        guest CPUs (qemu only)
  --cwd DIR       working directory in the guest (default: current directory if it
                  is inside the repository or a --share, else the repository root)
  --share DIR     also share host directory DIR at the same path (repeatable)
  --copy FILE     copy FILE into /crisp-vm/bin, which is first in the guest PATH (repeatable)
  --env K=V       set an environment variable for COMMAND (repeatable)
  --tap NAME      a virtio network device on the host's tap device NAME, which must
                  exist in the network namespace the front end runs in (qemu only;
                  repeatable). The MAC address is derived from NAME. Without it the
                  guest has loopback only.
  -q, --quiet     do not print boot timing
Exit status: COMMAND's, 124 on timeout, 125 if the guest failed before reporting one.
EOF
}

vm_parse_args() {
	while (($#)); do
		# shellcheck disable=SC2034 # VM_MEM and VM_CPUS are read by the front ends
		case $1 in
		--timeout) VM_TIMEOUT=$2; shift 2 ;;
		--mem) VM_MEM=$2; shift 2 ;;
		--cpus) VM_CPUS=$2; shift 2 ;;
		--cwd) VM_CWD=$2; shift 2 ;;
		--share) VM_SHARES+=("$(realpath -e "$2")") || exit 2; shift 2 ;;
		--copy) [[ -f $2 ]] || vm_die "--copy: no such file: $2"; VM_COPIES+=("$2"); shift 2 ;;
		--env) [[ $2 == *=* ]] || vm_die "--env wants K=V, got $2"; VM_ENVS+=("$2"); shift 2 ;;
		--tap) [[ $2 =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || vm_die "--tap wants an interface name, got $2"; VM_TAPS+=("$2"); shift 2 ;;
		-q | --quiet) VM_QUIET=1; shift ;;
		-h | --help) vm_usage; exit 0 ;;
		--) shift; VM_CMD=("$@"); break ;;
		-*) vm_usage; exit 2 ;;
		*) VM_CMD=("$@"); break ;;
		esac
	done
	((${#VM_CMD[@]})) || { vm_usage; exit 2; }
	[[ $VM_TIMEOUT =~ ^[0-9]+$ ]] || vm_die "--timeout wants seconds"
	if [[ -z $VM_CWD ]]; then
		VM_CWD=$REPO_ROOT
		local d
		for d in "$REPO_ROOT" "${VM_SHARES[@]}"; do
			[[ $PWD == "$d" || $PWD == "$d"/* ]] && VM_CWD=$PWD
		done
	fi
	return 0
}

# vm_tap_mac NAME prints the MAC address of the guest's network device on tap
# device NAME: locally administered (qemu's 52:54:00 prefix), derived from
# NAME so that guests on one bridge differ.
vm_tap_mac() {
	local h
	h=$(printf '%s' "$1" | sha256sum | cut -c1-6)
	echo "52:54:00:${h:0:2}:${h:2:2}:${h:4:2}"
}

# vm_prepare_run creates the per-run directory $VM_RUN that the guest mounts at
# /crisp-vm:
#   config       shell variables for guest/run.sh (cwd, shares: the repository first)
#   cmd          the command, as a bash script
#   env          extra environment, one K=V per line
#   run.sh       the in-guest runner (copied from guest/run.sh)
#   bin/         --copy files (first in the guest PATH)
#   stdout, stderr, rc, started   written by the guest
vm_prepare_run() {
	VM_RUN=$(mktemp -d "${TMPDIR:-/tmp}/crisp-vm.XXXXXX")
	chmod 755 "$VM_RUN"
	mkdir "$VM_RUN/bin"
	: >"$VM_RUN/stdout"
	: >"$VM_RUN/stderr"
	local f
	for f in "${VM_COPIES[@]}"; do
		cp "$f" "$VM_RUN/bin/"
	done
	cp "$VM_DIR/guest/run.sh" "$VM_RUN/run.sh"
	{
		printf 'CWD=%q\n' "$VM_CWD"
		printf 'SHARES=(%s)\n' "$(printf '%q ' "$REPO_ROOT" "${VM_SHARES[@]}")"
	} >"$VM_RUN/config"
	if ((${#VM_ENVS[@]})); then printf '%s\n' "${VM_ENVS[@]}"; fi >"$VM_RUN/env"
	printf '%q ' "${VM_CMD[@]}" >"$VM_RUN/cmd"
	echo >>"$VM_RUN/cmd"
	if [[ -z ${CRISP_VM_KEEP:-} ]]; then
		trap 'vm_cleanup' EXIT
	else
		vm_log "keeping run directory $VM_RUN"
	fi
}

vm_cleanup() {
	# Stop anything of ours that is still running (guest, output streams).
	local p
	for p in ${VM_GUEST_PID:-} ${VM_TAIL_PIDS:-}; do
		kill "$p" 2>/dev/null || true
	done
	[[ -n ${VM_RUN:-} && -d $VM_RUN ]] && rm -rf "$VM_RUN"
	return 0
}

# vm_run_guest NAME CMD... starts the guest command CMD (which must boot a guest
# using $VM_RUN) under a timeout, streams the guest command's stdout/stderr,
# reports timing and exits with the guest command's status.
vm_run_guest() {
	local name=$1
	shift
	local t0=$EPOCHREALTIME
	# timeout makes itself a process-group leader and signals the whole group,
	# so every helper process the guest spawned goes too.
	timeout --kill-after=10 "$VM_TIMEOUT" "$@" </dev/null >"$VM_RUN/console.log" 2>&1 &
	VM_GUEST_PID=$!
	tail -n +1 -F -s 0.2 --pid="$VM_GUEST_PID" "$VM_RUN/stdout" 2>/dev/null &
	VM_TAIL_PIDS=$!
	tail -n +1 -F -s 0.2 --pid="$VM_GUEST_PID" "$VM_RUN/stderr" >&2 2>/dev/null &
	VM_TAIL_PIDS+=" $!"

	# Note when the guest reaches the command (for the boot time report) and
	# when it reports the command's status: a guest that then fails to power
	# off within VM_POWEROFF_GRACE seconds is killed.
	local t_started="" t_done="" t_end
	while kill -0 "$VM_GUEST_PID" 2>/dev/null; do
		if [[ -z $t_started && -e $VM_RUN/started ]]; then
			t_started=$EPOCHREALTIME
			((VM_QUIET)) || vm_log "$name guest booted to command in $(vm_elapsed "$t0" "$t_started")s"
		fi
		if [[ -z $t_done && -e $VM_RUN/rc ]]; then
			t_done=$EPOCHREALTIME
		elif [[ -n $t_done && ${EPOCHREALTIME%.*} -gt $((${t_done%.*} + VM_POWEROFF_GRACE)) ]]; then
			vm_log "$name guest did not power off ${VM_POWEROFF_GRACE}s after the command; killing it"
			kill "$VM_GUEST_PID" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	local grc=0
	wait "$VM_GUEST_PID" || grc=$?
	VM_GUEST_PID=""
	# shellcheck disable=SC2086
	wait $VM_TAIL_PIDS 2>/dev/null || true
	VM_TAIL_PIDS=""
	t_end=$EPOCHREALTIME

	local rc
	if [[ -s $VM_RUN/rc ]]; then
		rc=$(<"$VM_RUN/rc")
		# The runner reports its own setup failures as 125.
		[[ -z $t_started && -s $VM_RUN/guest.log ]] && cat "$VM_RUN/guest.log" >&2
	elif [[ $grc -eq 124 || $grc -eq 137 ]]; then
		vm_log "$name guest timed out after ${VM_TIMEOUT}s and was killed"
		vm_console_tail
		rc=124
	else
		vm_log "$name guest exited ($grc) without reporting a command status"
		vm_console_tail
		rc=125
	fi
	if ((!VM_QUIET)); then
		local cmd_s="?"
		[[ -n $t_started ]] && cmd_s=$(vm_elapsed "$t_started" "${t_done:-$t_end}")
		vm_log "$name guest: command ${cmd_s}s, total $(vm_elapsed "$t0" "$t_end")s, exit $rc"
	fi
	exit "$rc"
}

# vm_console_tail shows the end of the guest console and runner log to help
# diagnose a guest that did not finish.
vm_console_tail() {
	vm_log "last lines of the guest console ($VM_RUN/console.log):"
	tail -n 40 "$VM_RUN/console.log" >&2 2>/dev/null || true
	if [[ -s $VM_RUN/guest.log ]]; then
		vm_log "guest runner log:"
		cat "$VM_RUN/guest.log" >&2
	fi
}
