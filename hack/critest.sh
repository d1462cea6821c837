#!/usr/bin/env bash
# Runs critest (cri-tools' CRI validation suite) against crisp without the
# internet: a loopback registry (test/critest) serves every image critest
# pulls, built from the host's busybox under the names critest uses, and a
# registries.conf sends registry.k8s.io, gcr.io, k8s.gcr.io and docker.io
# there. On this host, the registry, a crisp daemon whose paths all live in
# a temp dir and critest itself run in a private network namespace, so the
# pod network (a CNI bridge) never touches the host's. With --qemu they run
# in the qemu guest (hack/vm: Debian's kernel, pure cgroup v2, systemd), crisp
# as the systemd service of deploy/systemd/crisp.service with the systemd
# cgroup driver, as on a production node.
#
#   hack/critest.sh [--qemu] [critest flags...]    (root; e.g. --ginkgo.focus=Image)
#
# Prints critest's summary; exits with critest's status. The daemon's log is
# kept as $CRITEST_LOG (default /var/tmp/crisp-critest.log, or
# /var/tmp/crisp-critest-qemu.log for --qemu). CRITEST_QEMU_TIMEOUT (default
# 1500) is when the guest is killed.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

SKIPS=(
	# Pins gcr.io/k8s-staging-cri-tools/test-image-digest by the digest of
	# the upstream image, whose content the loopback registry cannot
	# reproduce.
	'public image with digest should be pulled and removed'
	# Masks /bin/ls and expects "sh -c ls" to fail. Debian's static busybox,
	# which the images are built from, is a standalone shell: it runs ls as
	# a built-in applet without executing /bin/ls, so the mask is never met.
	'runtime should support MaskedPaths'
)

qemu=0
if [ "${1:-}" = --qemu ]; then
	qemu=1
	shift
fi

# The host side: build, then run the rest in a private network namespace or
# in the qemu guest.
if [ -z "${CRISP_CRITEST_NETNS:-}" ] && [ -z "${CRISP_CRITEST_GUEST:-}" ]; then
	require_root
	apt_install busybox-static iptables
	hack/install-tools.sh >/dev/null
	hack/install-cni.sh --plugins-only
	command -v critest >/dev/null || die "critest is missing (hack/install-tools.sh installs it)"
	WORK=$(mktemp -d /var/tmp/crisp-critest.XXXXXX)
	export WORK
	# shellcheck disable=SC2317 # run by the trap
	remove_work() {
		# Nothing may be mounted there (the qemu run mounts in the guest):
		# grep's no-match must not fail the script.
		{ grep -o " ${WORK}[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf "$WORK"
	}
	trap remove_work EXIT
	log "building crisp and the image registry"
	build_crisp "$WORK"
	go build -buildvcs=false -o "$WORK/registry" ./test/critest
	CGO_ENABLED=0 go build -buildvcs=false -o "$WORK/nonewprivs" ./test/critest/nonewprivs
	status=0
	if [ $qemu = 0 ]; then
		CRISP_CRITEST_NETNS=1 unshare --net -- "$0" "$@" || status=$?
		exit $status
	fi
	chmod 755 "$WORK"
	start=$SECONDS
	log "critest in the qemu guest"
	hack/vm/qemu-run.sh --timeout "${CRITEST_QEMU_TIMEOUT:-1500}" --mem 3072 \
		--share "$WORK" --share /opt/cni/bin \
		--copy "$(command -v critest)" --copy "$(command -v crictl)" \
		--env WORK="$WORK" --env CRISP_CRITEST_GUEST=1 \
		-- "$PWD/hack/critest.sh" "$@" || status=$?
	# The guest's daemon log, kept in the shared directory.
	if [ -f "$WORK/crisp.log" ]; then
		cp "$WORK/crisp.log" "${CRITEST_LOG:-/var/tmp/crisp-critest-qemu.log}"
		log "crisp's log: ${CRITEST_LOG:-/var/tmp/crisp-critest-qemu.log}"
	fi
	log "critest in the qemu guest: status $status after $((SECONDS - start))s"
	exit $status
fi

PIDS=()
if [ -n "${CRISP_CRITEST_GUEST:-}" ]; then
	# In the qemu guest: the binaries come from the shared WORK, which is
	# 9p; crisp's root, state and the pod network's leases stay on the
	# guest's own disk. crisp runs as the systemd service kubelet would use.
	timeout 300 systemctl is-system-running --wait >/dev/null 2>&1 || true
	LOCAL=/var/lib/crisp-critest
	mkdir -p "$LOCAL"
	SOCK=/run/crisp/crisp.sock
	cgmount=/sys/fs/cgroup
	driver=systemd
	modprobe -q br_netfilter 2>/dev/null || true
else
	# In the private network namespace on this host.
	LOCAL=$WORK
	SOCK=$WORK/run/crisp.sock
	cgmount=/sys/fs/cgroup
	[ -f /sys/fs/cgroup/cgroup.controllers ] || cgmount=/sys/fs/cgroup/unified
	driver=auto
fi
ip link set lo up
# The NRI socket critest's plugins connect to (its NRI specs).
NRISOCK=$(dirname "$SOCK")/nri.sock
LOGFILE=${CRITEST_LOG:-/var/tmp/crisp-critest.log}
# Containers outlive the daemon: remove the pods an interrupted spec left
# before stopping it.
cleanup() {
	if [ -S "$SOCK" ]; then
		timeout 60 crictl --runtime-endpoint "unix://$SOCK" rmp --all --force >/dev/null 2>&1 || true
	fi
	if [ -n "${CRISP_CRITEST_GUEST:-}" ]; then
		systemctl stop crisp 2>/dev/null || true
		journalctl -u crisp --no-pager >"$WORK/crisp.log" 2>&1 || true
	fi
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$WORK/registry" -addr 127.0.0.1:5000 -nonewprivs "$WORK/nonewprivs" >"$LOCAL/registry.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do grep -q '^ready' "$LOCAL/registry.out" && break; sleep 0.1; done
grep -q '^ready' "$LOCAL/registry.out" || { cat "$LOCAL/registry.out" >&2; die "registry did not start"; }
ADDR=$(awk '/^ready/ {print $2}' "$LOCAL/registry.out")

# registries.conf v2: a reference whose registry matches a prefix is pulled
# from location with the prefix replaced; the registry holds each upstream
# registry's images under a namespace named after it.
: >"$LOCAL/registries.conf"
for host in registry.k8s.io gcr.io k8s.gcr.io docker.io; do
	printf '[[registry]]\nprefix = "%s"\nlocation = "%s/%s"\ninsecure = true\n\n' "$host" "$ADDR" "$host" >>"$LOCAL/registries.conf"
done

mkdir -p "$LOCAL/cni/net.d" "$LOCAL/cni/bin"
for p in bridge host-local loopback portmap; do ln -sf "/opt/cni/bin/$p" "$LOCAL/cni/bin/$p"; done
cat >"$LOCAL/cni/net.d/10-critest.conflist" <<EOF
{"cniVersion":"1.0.0","name":"crisp-critest","plugins":[
  {"type":"bridge","bridge":"critest0","isGateway":true,"ipMasq":false,
   "ipam":{"type":"host-local","dataDir":"$LOCAL/ipam","ranges":[[{"subnet":"10.99.0.0/24"}]]}},
  {"type":"portmap","capabilities":{"portMappings":true}}]}
EOF
config=$(
	cat <<EOF
root = "$LOCAL/root"
state = "$(dirname "$SOCK")"
[grpc]
address = "unix://$SOCK"
shutdown_timeout = "5s"
[cgroup]
driver = "$driver"
mount = "$cgmount"
missing_controller = "warn"
[cni]
conf_dir = "$LOCAL/cni/net.d"
bin_dirs = ["$LOCAL/cni/bin"]
[image]
registries_conf = "$LOCAL/registries.conf"
registries_conf_dir = "$LOCAL/registries.conf.d"
signature_policy = "$LOCAL/policy.json"
[nri]
enable = true
socket_path = "$NRISOCK"
plugin_path = "$LOCAL/nri/plugins"
plugin_config_path = "$LOCAL/nri/conf.d"
# critest's plugins hold a Synchronize open for two seconds on purpose.
request_timeout = "10s"
EOF
)

if [ -n "${CRISP_CRITEST_GUEST:-}" ]; then
	install -m 0755 "$WORK/crisp-image" /usr/local/bin/crisp-image
	install -m 0755 "$WORK/crisp" /usr/local/bin/crisp
	install -d /etc/crisp
	printf '%s\n' "$config" >/etc/crisp/crisp.toml
	install -m 0644 deploy/systemd/crisp.service /etc/systemd/system/crisp.service
	systemctl daemon-reload
	systemctl start crisp
	LOGFILE="journalctl -u crisp"
else
	printf '%s\n' "$config" >"$WORK/crisp.toml"
	"$WORK/crisp" --config "$WORK/crisp.toml" >"$LOGFILE" 2>&1 &
	PIDS+=($!)
fi
for _ in $(seq 600); do [ -S "$SOCK" ] && break; sleep 0.1; done
if [ ! -S "$SOCK" ]; then
	if [ -n "${CRISP_CRITEST_GUEST:-}" ]; then journalctl -u crisp --no-pager | tail -20 >&2; else cat "$LOGFILE" >&2; fi
	die "crisp did not start"
fi

# An OOM kill needs a memory limit, and memory statistics need the memory
# controller, in the cgroup v2 hierarchy; a hybrid host keeps it in cgroup
# v1, so crisp reports no memory section there. The pod metrics spec wants
# series of the memory, cpu and pids controllers too; the qemu run of this
# script, which has them, runs it.
if ! grep -qw memory "$cgmount/cgroup.controllers"; then
	SKIPS+=('should terminate with exitCode 137 and reason OOMKilled')
	SKIPS+=('runtime should support listing container stats \[Conformance\]')
	SKIPS+=('runtime should support listing pod sandbox metrics \[Conformance\]')
fi
skip=$(IFS='|'; echo "${SKIPS[*]}")
log "critest (daemon log: $LOGFILE)"
critest --runtime-endpoint "unix://$SOCK" --image-endpoint "unix://$SOCK" \
	-nri-socket "$NRISOCK" --ginkgo.no-color --ginkgo.skip="$skip" "$@"
