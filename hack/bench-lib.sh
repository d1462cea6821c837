# shellcheck shell=bash
# Shared pieces of the side-by-side benchmarks against containerd
# (hack/bench.sh, hack/bench-pods.sh): a network namespace per daemon, one
# CNI network for both runtimes, crisp run on a directory of its own, and the
# removal of everything a run leaves on the host. Source it after
# hack/lib.sh; do not run it.
#
# The caller sets, before calling any of these:
#   REPO_ROOT    the repository, the working directory
#   CRISP_BIN    the crisp binary to run
#   WORK         the run's directory (short: daemon sockets live in it)
#   CGROUP_ROOT  the cgroup parent of the run's pods, e.g. /crisp-bench-ID

# Network namespaces made by bench_new_netns, removed by bench_cleanup_host.
BENCH_NETNS=()
# The crisp daemon bench_crisp_start started, and its directory (read by
# the scripts).
CRISP_PID=""
# shellcheck disable=SC2034
CRISP_DIR=""

# bench_install [PACKAGE...] installs what both runtimes need (and the
# Debian PACKAGEs given): iproute2, the CNI plugins and the containerd peer;
# builds CRISP_BIN (bin/crisp) if missing and copies it into WORK, so that
# a rebuild during the run changes nothing (its path also names crisp's
# monitors, which run the same executable); builds podbench into WORK.
bench_install() {
	apt_install iproute2 util-linux "$@"
	hack/install-cni.sh --plugins-only
	containerd_peer_install
	if [ ! -x "$CRISP_BIN" ]; then
		[ "$CRISP_BIN" = "$REPO_ROOT/bin/crisp" ] || die "CRISP_BIN $CRISP_BIN is not an executable"
		log "building $CRISP_BIN"
		make build
	fi
	install -m 0755 "$CRISP_BIN" "$WORK/crisp-bin"
	# crisp pulls with the crisp-image beside it.
	[ -x "$(dirname "$CRISP_BIN")/crisp-image" ] || die "no crisp-image beside $CRISP_BIN: make build builds both"
	install -m 0755 "$(dirname "$CRISP_BIN")/crisp-image" "$WORK/crisp-image"
	CRISP_BIN=$WORK/crisp-bin
	go build -o "$WORK/podbench" ./test/bench/podbench
}

# bench_new_netns NAME makes a network namespace with loopback up; a daemon
# started in it builds the pod bridge there.
bench_new_netns() {
	ip netns add "$1"
	BENCH_NETNS+=("$1")
	ip netns exec "$1" ip link set lo up
}

# bench_wait_socket PATH PID: until PATH is a socket, failing if PID exits.
bench_wait_socket() {
	for _ in $(seq 300); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# bench_write_conflist writes the network both runtimes use,
# $WORK/cni/net.d/10-bench.conflist: a bridge on a private subnet with
# host-local leases in $WORK, and portmap.
bench_write_conflist() {
	local p
	for p in bridge host-local portmap loopback; do
		[ -x "/opt/cni/bin/$p" ] || die "CNI plugin $p missing from /opt/cni/bin"
	done
	mkdir -p "$WORK/cni/net.d" "$WORK/cni/ipam"
	cat >"$WORK/cni/net.d/10-bench.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "crisp-bench",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "benchbr0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$WORK/cni/ipam",
        "ranges": [[{ "subnet": "10.234.0.0/16" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# bench_drop_page_cache FILE... writes FILE back and drops its pages from the
# page cache, so that a daemon starting from it reads its binary in through
# exec, as after a boot. Each daemon's resident memory depends on it: the
# kernel maps a file's cached pages around each fault, a whole large folio at
# a time, and a binary just written by the Go linker sits in the cache in
# larger pieces than one read in by exec (crisp idle: 40 MiB against 30 MiB,
# the same binary). Both runtimes' binaries are dropped before each start, so
# neither keeps the cache of however it was built.
bench_drop_page_cache() {
	local f
	for f in "$@"; do
		if ! sync -- "$f" || ! dd if="$f" iflag=nocache count=0 status=none; then
			die "could not drop $f from the page cache"
		fi
	done
}

# bench_crisp_start BIN DIR NETNS [TOML] starts crisp BIN on DIR (root,
# state, socket, config, log) inside the network namespace NETNS, on the
# network of bench_write_conflist, with TOML appended to its configuration.
# It sets CRISP_PID, the daemon's own pid, and CRISP_DIR; the endpoint is
# unix://DIR/crisp.sock.
bench_crisp_start() {
	local bin=$1 dir=$2 netns=$3 extra=${4:-}
	mkdir -p "$dir"
	# crisp needs cgroup v2: the whole tree on a pure v2 host, the cgroup2
	# mount of a hybrid one.
	local cgmount=/sys/fs/cgroup
	[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || cgmount=/sys/fs/cgroup/unified
	[ "$(stat -fc %T "$cgmount" 2>/dev/null)" = cgroup2fs ] || die "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified"
	cat >"$dir/crisp.toml" <<EOF
root = "$dir/root"
state = "$dir/state"
[grpc]
address = "unix://$dir/crisp.sock"
[cgroup]
driver = "cgroupfs"
mount = "$cgmount"
missing_controller = "warn"
[cni]
conf_dir = "$WORK/cni/net.d"
bin_dirs = ["/opt/cni/bin"]
$extra
EOF
	# Neither setsid (not a process group leader here) nor nsenter (joining
	# a network namespace only) forks: $! is crisp's pid.
	setsid nsenter "--net=$netns" -- "$bin" --config "$dir/crisp.toml" >"$dir/crisp.log" 2>&1 </dev/null &
	CRISP_PID=$!
	# shellcheck disable=SC2034
	CRISP_DIR=$dir
	bench_wait_socket "$dir/crisp.sock" "$CRISP_PID" || {
		tail -n 30 "$dir/crisp.log" >&2
		die "crisp did not serve on $dir/crisp.sock"
	}
	[ "$(readlink "/proc/$CRISP_PID/exe")" = "$bin" ] || die "pid $CRISP_PID is not $bin"
}

# bench_crisp_stop stops the crisp of bench_crisp_start, if it runs. Its
# directory stays.
bench_crisp_stop() {
	[ -n "$CRISP_PID" ] || return 0
	kill -TERM "$CRISP_PID" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$CRISP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$CRISP_PID" 2>/dev/null || true
	wait "$CRISP_PID" 2>/dev/null || true
	CRISP_PID=""
}

# bench_unmount_below DIR unmounts everything mounted below DIR, deepest
# first.
bench_unmount_below() {
	local m
	awk -v d="$1/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" || log "could not unmount $m"
	done
}

# bench_kill_cgroups kills every process still in the pods' cgroups (a run
# interrupted with containers running, whose monitors outlive crisp) and
# waits up to 10 s for them to go.
bench_kill_cgroups() {
	local cgs=() cg pids pid
	for cg in /sys/fs/cgroup/"${CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
		[ -d "$cg" ] && cgs+=("$cg")
	done
	[ ${#cgs[@]} -gt 0 ] || return 0
	for _ in $(seq 100); do
		mapfile -t pids < <(find "${cgs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null)
		[ ${#pids[@]} -gt 0 ] || return 0
		for pid in "${pids[@]}"; do
			kill -KILL "$pid" 2>/dev/null || true
		done
		sleep 0.1
	done
}

# bench_cleanup_host removes what a run left on the host once its daemons
# are stopped: processes in the pods' cgroups, the network namespaces, mounts
# below $WORK, the pods' cgroup parent in every hierarchy, and $WORK. It
# prints what it could not remove and then fails.
bench_cleanup_host() {
	local leftovers=() ns cg
	bench_kill_cgroups
	for ns in "${BENCH_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || leftovers+=("network namespace $ns")
	done
	bench_unmount_below "$WORK"
	# Kubelet removes pod cgroup parents; here that is the script's job.
	for cg in /sys/fs/cgroup/"${CGROUP_ROOT#/}" /sys/fs/cgroup/*/"${CGROUP_ROOT#/}"; do
		[ -d "$cg" ] || continue
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$cg" ] || leftovers+=("cgroup $cg")
	done
	rm -rf "$WORK" || leftovers+=("$WORK")
	[ ${#leftovers[@]} -eq 0 ] && return 0
	printf '%s: left behind: %s\n' "${0##*/}" "${leftovers[@]}" >&2
	return 1
}

# bench_start_registry NETNS serves the busybox image as bench/busybox:1 on
# $REGISTRY inside NETNS with $WORK/registry (go build ./test/registry); the
# image's digest is left in REGISTRY_DIGEST and the server's pid added to
# REGISTRY_PIDS.
bench_start_registry() {
	local out=$WORK/registry-${1##*/}.out
	: >"$out" # before the background job opens it
	setsid nsenter "--net=$1" -- "$WORK/registry" -addr "$REGISTRY" -busybox bench/busybox:1 >"$out" 2>&1 </dev/null &
	local pid=$!
	REGISTRY_PIDS+=("$pid")
	for _ in $(seq 600); do
		grep -q '^ready ' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^ready ' "$out" || {
		cat "$out" >&2
		die "the registry in $1 did not start"
	}
	REGISTRY_DIGEST=$(awk '$1 == "pushed" {print $3}' "$out")
}
