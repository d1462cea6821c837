#!/bin/bash
# Runs a command as root in a qemu guest (TCG, no KVM) that boots Debian's
# kernel and systemd with a pure cgroup v2 hierarchy and every controller
# (cpuset and hugetlb too). Boots in well under a minute: the guest for full
# end-to-end tests (systemd, kubelet, CRIU).
#
# usage: hack/vm/qemu-run.sh [options] -- COMMAND [ARG...]   (--help for options)
#
# The command runs from crisp-vm.service (Delegate=yes) once basic.target is
# reached; "systemctl is-system-running --wait" waits for the rest of the boot.
# The cached Debian image (build-image.sh) is booted in snapshot mode, so runs
# never change it. The repository and --share directories are shared over 9p
# at their host paths. The guest has no network device, only loopback, unless
# --tap NAME gives it a virtio one on an existing tap device of the host.
set -euo pipefail
# shellcheck source=hack/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vm_parse_args "$@"
vm_require_root
vm_ensure_host_packages qemu-system-x86
IMAGE=$(vm_image_dir)
vm_prepare_run

KERNEL_ARGS=(
	root=/dev/vda rw console=ttyS0 quiet panic=-1 mitigations=off
	systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all
	# Marks a harness boot (crisp-vm.service's condition).
	crisp.run=1
	# Under TCG on a busy host the kernel's check that the IO-APIC timer
	# ticks can time out and panic the boot ("IO-APIC + timer doesn't
	# work"); the check proves nothing about an emulated machine.
	no_timer_check
)
# shellcheck disable=SC2054 # commas are part of the arguments
QEMU_ARGS=(
	-machine pc,accel=tcg -cpu max
	-smp "${VM_CPUS:-2}" -m "${VM_MEM:-2048}"
	-nodefaults -no-user-config -display none -no-reboot
	# qboot: a minimal firmware that starts the kernel sooner than SeaBIOS.
	-bios qboot.rom
	-serial stdio
	-kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img"
	-append "${KERNEL_ARGS[*]}"
	# snapshot=on: writes go to a temporary overlay that qemu discards. The
	# image itself is only read; no image locking, since the whole-file read
	# lock of a concurrent UML guest would otherwise make qemu refuse it.
	-drive "file=$IMAGE/rootfs.ext4,format=raw,if=virtio,snapshot=on,cache=unsafe,file.locking=off"
	-device virtio-rng-pci
	-virtfs "local,path=$VM_RUN,mount_tag=crisp-run,security_model=passthrough,id=crisp-run"
)
if ((${#VM_TAPS[@]} == 0)); then
	QEMU_ARGS+=(-nic none)
fi
i=0
for t in "${VM_TAPS[@]}"; do
	# The caller made the tap device (and put it on a bridge); qemu only
	# opens it.
	QEMU_ARGS+=(-netdev "tap,id=net$i,ifname=$t,script=no,downscript=no"
		-device "virtio-net-pci,netdev=net$i,mac=$(vm_tap_mac "$t")")
	i=$((i + 1))
done
i=0
for s in "$REPO_ROOT" "${VM_SHARES[@]}"; do
	QEMU_ARGS+=(-virtfs "local,path=$s,mount_tag=crisp-share$i,security_model=passthrough,id=crisp-share$i")
	i=$((i + 1))
done
vm_run_guest qemu qemu-system-x86_64 "${QEMU_ARGS[@]}"
