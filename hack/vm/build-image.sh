#!/bin/bash
# Builds, or reuses from the cache, the Debian bookworm image shared by the
# crisp test guests, and prints its directory:
#   rootfs.ext4   root filesystem (booted copy-on-write, never modified)
#   vmlinuz, initrd.img   Debian kernel for the qemu guest
#   packages.txt  what is installed (dpkg -l), build.log
# The cache key is a hash of the recipe: this script, packages.txt and
# guest/image/*. Changing any of them builds a new image.
#
# usage: build-image.sh [--force] [--prune]
#   --force  rebuild even if a cached image exists
#   --prune  remove cached images with other keys (done after every build:
#            guests still running keep their open image files)
set -euo pipefail
# shellcheck source=hack/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE_SIZE=${CRISP_VM_IMAGE_SIZE:-8G}
IMAGES=$CRISP_VM_CACHE/images

force=0 prune=0
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	--prune) prune=1 ;;
	*) vm_die "usage: build-image.sh [--force] [--prune]" ;;
	esac
done

recipe_key() {
	(cd "$VM_DIR" && sha256sum build-image.sh packages.txt guest/image/*) | sha256sum | cut -c1-16
}

guest_packages() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' "$VM_DIR/packages.txt" | grep -v '^$' | paste -sd, -
}

# kernel_version DIR prints the version of the newest Debian kernel in DIR.
kernel_version() {
	local dirs=("$1"/lib/modules/*-amd64)
	printf '%s\n' "${dirs[@]##*/}" | sort -V | tail -n 1
}

# module_load_order ROOT KVER MODULE... prints the .ko paths (relative to the
# modules directory) needed for MODULE..., dependencies first, from modules.dep.
module_load_order() {
	local root=$1 kver=$2
	shift 2
	awk -v want="$*" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { gsub(/-/, "_", w[i]); order[i] = w[i] } }
		{
			path = $1; sub(/:$/, "", path)
			name = path; sub(/.*\//, "", name); sub(/\.ko.*$/, "", name); gsub(/-/, "_", name)
			line[name] = $0
		}
		function emit(p) { if (!(p in seen)) { seen[p] = 1; print p } }
		END {
			for (i = 1; i <= n; i++) {
				if (!(order[i] in line)) { print "unknown module " order[i] > "/dev/stderr"; exit 1 }
				k = split(line[order[i]], f, " ")
				# modules.dep lists dependencies so that the last loads first.
				for (j = k; j >= 2; j--) emit(f[j])
				p = f[1]; sub(/:$/, "", p); emit(p)
			}
		}' "$root/lib/modules/$kver/modules.dep"
}

# make_initrd ROOT KVER OUT: a minimal initrd for the qemu guest: busybox,
# the virtio and ext4 modules and guest/image/initrd-init as /init.
make_initrd() {
	local root=$1 kver=$2 out=$3 d m
	d=$(mktemp -d)
	mkdir -p "$d/bin" "$d/dev" "$d/proc" "$d/sys" "$d/newroot" "$d/lib/modules"
	cp "$root/usr/bin/busybox" "$d/bin/busybox"
	install -m 0755 "$VM_DIR/guest/image/initrd-init" "$d/init"
	module_load_order "$root" "$kver" virtio_pci virtio_blk crc32c_generic ext4 >"$d/lib/modules/load-order"
	while read -r m; do
		mkdir -p "$d/lib/modules/$(dirname "$m")"
		cp "$root/lib/modules/$kver/$m" "$d/lib/modules/$m"
	done <"$d/lib/modules/load-order"
	(cd "$d" && find . | cpio --quiet -o -H newc -R 0:0) >"$out"
	rm -rf "$d"
}

# configure_rootfs DIR: turn the debootstrap tree into a test guest.
configure_rootfs() {
	local root=$1
	echo crisp-vm >"$root/etc/hostname"
	cat >"$root/etc/hosts" <<-HOSTS
		127.0.0.1	localhost
		127.0.1.1	crisp-vm
		::1	localhost ip6-localhost ip6-loopback
	HOSTS
	echo "# root is given on the kernel command line; see hack/vm" >"$root/etc/fstab"
	# A fixed machine id: no first-boot logic, and dbus finds one.
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
	echo >>"$root/etc/machine-id"
	# Throwaway test machine without network: root may log in on the console.
	chroot "$root" passwd -d root >/dev/null

	install -m 0755 "$VM_DIR/guest/image/crisp-vm-init" "$root/sbin/crisp-vm-init"
	install -m 0755 "$VM_DIR/guest/image/crisp-vm-start" "$root/usr/local/sbin/crisp-vm-start"
	install -m 0644 "$VM_DIR/guest/image/crisp-vm.service" "$root/etc/systemd/system/crisp-vm.service"
	mkdir -p "$root/crisp-vm"
	chroot "$root" systemctl enable crisp-vm.service
	# Nothing periodic or interactive in a test guest, and nothing that only
	# slows the boot under TCG (utmp, binfmt, pstore, drm/dm modules).
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer \
		getty@tty1.service serial-getty@ttyS0.service \
		systemd-networkd-wait-online.service \
		systemd-update-utmp.service systemd-update-utmp-runlevel.service \
		systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
		systemd-pstore.service modprobe@drm.service modprobe@efi_pstore.service \
		modprobe@dm_mod.service
	# The journal stays in memory: no flush to disk on the boot's critical path.
	mkdir -p "$root/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/crisp-vm.conf"

	install -m 0644 "$VM_DIR/guest/image/modprobe-crisp-vm.conf" "$root/etc/modprobe.d/crisp-vm.conf"

	chroot "$root" apt-get clean
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
}

build_image() {
	local key=$1 out=$2
	local work=$IMAGES/.build-$key
	rm -rf "$work"
	mkdir -p "$work" "$CRISP_VM_CACHE/debs"
	local t0=$EPOCHREALTIME mirror
	mirror=$(vm_debian_mirror)
	vm_log "building guest image $key from $mirror (log: $work/build.log)"
	# INITRD=No: the kernel package's hook skips its initramfs-tools initrd;
	# make_initrd builds a much smaller one.
	if ! INITRD=No debootstrap --variant=minbase --include="$(guest_packages)" \
		--cache-dir="$CRISP_VM_CACHE/debs" \
		"$CRISP_VM_SUITE" "$work/rootfs" "$mirror" >"$work/build.log" 2>&1; then
		tail -n 30 "$work/build.log" >&2
		vm_die "debootstrap failed; see $work/build.log"
	fi
	configure_rootfs "$work/rootfs" >>"$work/build.log" 2>&1 ||
		{ tail -n 30 "$work/build.log" >&2; vm_die "configuring the image failed; see $work/build.log"; }

	chroot "$work/rootfs" dpkg -l >"$work/packages.txt"
	local kver
	kver=$(kernel_version "$work/rootfs")
	cp "$work/rootfs/boot/vmlinuz-$kver" "$work/vmlinuz"
	make_initrd "$work/rootfs" "$kver" "$work/initrd.img"
	echo "$kver" >"$work/kernel-version"

	# ext4 image straight from the directory: no loop device needed.
	truncate -s "$IMAGE_SIZE" "$work/rootfs.ext4"
	mke2fs -q -t ext4 -L crisp-root -d "$work/rootfs" "$work/rootfs.ext4" >>"$work/build.log" 2>&1
	rm -rf "$work/rootfs"
	chmod 0444 "$work/rootfs.ext4"
	mv "$work" "$out"
	vm_log "guest image $key built in $(vm_elapsed "$t0")s"
}

main() {
	vm_require_root
	local key out
	key=$(recipe_key)
	out=$IMAGES/$CRISP_VM_SUITE-$key
	if ((force)) || [[ ! -d $out ]]; then
		vm_ensure_host_packages debootstrap debian-archive-keyring e2fsprogs cpio
		mkdir -p "$IMAGES"
		# One builder at a time; whoever waited finds the image ready.
		exec 9>"$CRISP_VM_CACHE/build.lock"
		flock 9
		if ((force)) && [[ -d $out ]]; then
			rm -rf "$out"
		fi
		if [[ ! -d $out ]]; then
			build_image "$key" "$out"
			prune=1
		fi
		exec 9>&-
	fi
	if ((prune)); then
		local d
		for d in "$IMAGES"/*; do
			[[ $d == "$out" ]] && continue
			vm_log "removing old image $d"
			rm -rf "$d"
		done
	fi
	echo "$out"
}

main
