#!/bin/bash
# In-guest runner for the crisp test guests. uml-run.sh / qemu-run.sh copy it
# into the per-run directory, which the guest mounts at /crisp-vm:
#   uml : PID 1 (exec'd by /sbin/crisp-vm-init); sets up the whole system
#   qemu: started by crisp-vm.service under systemd, which did most mounts
# It mounts the shared host directories at their host paths, makes sure
# /sys/fs/cgroup is a pure cgroup v2 hierarchy with every controller enabled
# in the root, runs /crisp-vm/cmd with its output in /crisp-vm/stdout and
# /crisp-vm/stderr, writes the exit status to /crisp-vm/rc and powers off.
set -uo pipefail

MODE=${1:?usage: run.sh uml|qemu}
RUN=/crisp-vm
CWD="" SHARES=()
# shellcheck source=/dev/null
. "$RUN/config"

log() { echo "crisp-vm-guest: $*" >>"$RUN/guest.log"; }

# must CMD...: run a setup step; on failure log it and give up (status 125).
must() {
	"$@" && return 0
	log "setup step failed: $*"
	finish 125
}

finish() {
	sync
	echo "$1" >"$RUN/rc.tmp" && mv "$RUN/rc.tmp" "$RUN/rc"
	sync
	if [[ $MODE == uml ]]; then
		# PID 1 must not exit: power the UML kernel off instead.
		exec /bin/busybox poweroff -f
	fi
	# qemu: the result is on the host (synced above) and the disk is a
	# throwaway snapshot: nothing is worth a clean shutdown. Power off at once.
	systemctl --force --force poweroff
	exit 0
}

setup_uml() {
	must mount -t sysfs sysfs /sys
	mountpoint -q /dev || must mount -t devtmpfs devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	must mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
	must mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	must mount -t tmpfs -o mode=755 tmpfs /run
	must mount -t tmpfs -o mode=1777 tmpfs /tmp
	must mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
	# UML's kernel modules (overlay, veth, bridge, netfilter...) come from the host.
	local kver
	kver=$(uname -r)
	mkdir -p "/lib/modules/$kver"
	must mount -r -t hostfs -o "/usr/lib/uml/modules/$kver" hostfs "/lib/modules/$kver"
	hostname crisp-vm
	ip link set lo up
	local s
	for s in "${SHARES[@]}"; do
		mkdir -p "$s"
		must mount -t hostfs -o "$s" hostfs "$s"
	done
}

setup_qemu() {
	local i=0 s
	for s in "${SHARES[@]}"; do
		mkdir -p "$s"
		must mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap "crisp-share$i" "$s"
		i=$((i + 1))
	done
}

check_cgroup2() {
	local fstype
	fstype=$(stat -f -c %T /sys/fs/cgroup)
	[[ $fstype == cgroup2fs ]] || { log "/sys/fs/cgroup is $fstype, not cgroup2"; finish 125; }
	if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/mounts; then
		log "cgroup v1 hierarchies are mounted"
		finish 125
	fi
	# Enable every available controller for the children of the root cgroup.
	local c
	for c in $(</sys/fs/cgroup/cgroup.controllers); do
		echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
			log "cannot enable controller $c in the root cgroup"
	done
}

case $MODE in
uml) setup_uml ;;
qemu) setup_qemu ;;
*) log "unknown mode $MODE"; finish 125 ;;
esac
check_cgroup2

export HOME=/root LANG=C.UTF-8 TERM=dumb
export PATH=$RUN/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
while IFS= read -r kv; do
	[[ -n $kv ]] && export "${kv?}"
done <"$RUN/env"
export CRISP_VM=$MODE
cd "$CWD" || { log "no such directory in the guest: $CWD"; finish 125; }

date +%s.%N >"$RUN/started"
bash "$RUN/cmd" >>"$RUN/stdout" 2>>"$RUN/stderr" </dev/null
finish $?
