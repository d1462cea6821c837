#!/bin/bash
# Runs a command as root in a user-mode Linux guest with a pure cgroup v2
# hierarchy (controllers cpu, io, memory, pids), all namespaces, overlay, veth,
# bridge and netns. Boots in about 2 s: the fast loop for cgroup, namespace and
# network integration tests.
#
# usage: hack/vm/uml-run.sh [options] -- COMMAND [ARG...]   (--help for options)
#
# The guest boots the cached Debian image (build-image.sh) copy-on-write, so
# every run starts from the same clean state and concurrent guests don't
# interfere. The repository is shared in (hostfs) at its host path. The guest
# has only loopback networking.
set -euo pipefail
# shellcheck source=hack/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vm_parse_args "$@"
((${#VM_TAPS[@]} == 0)) || vm_die "--tap is for the qemu guest only"
vm_require_root
vm_ensure_host_packages user-mode-linux
IMAGE=$(vm_image_dir)
vm_prepare_run

# shellcheck disable=SC2054 # commas are part of the arguments
UML_ARGS=(
	"mem=${VM_MEM:-2048}M"
	# Writes go to a fresh sparse COW file in the run directory.
	"ubd0=$VM_RUN/root.cow,$IMAGE/rootfs.ext4"
	root=/dev/ubda rw
	init=/sbin/crisp-vm-init
	"crisp.run=$VM_RUN"
	# No cgroup v1 controllers at all: everything is on the v2 hierarchy.
	cgroup_no_v1=all
	# Kernel console to our stdout (console.log); no other consoles or xterms.
	con=null con0=null,fd:1 ssl=null
	"umid=crisp-vm-$$" "uml_dir=$VM_RUN/uml"
)
mkdir -p "$VM_RUN/uml"
vm_run_guest uml linux "${UML_ARGS[@]}"
