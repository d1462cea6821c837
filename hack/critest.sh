#!/usr/bin/env bash
# Runs critest (cri-tools' CRI validation suite) against crisp without the
# internet: a loopback registry (test/critest) serves every image critest
# pulls, built from the host's busybox under the names critest uses, and a
# registries.conf sends registry.k8s.io, gcr.io, k8s.gcr.io and docker.io
# there. The registry, a crisp daemon whose paths all live in a temp dir and
# critest itself run in a private network namespace, so the pod network
# (a CNI bridge) never touches the host's.
#
#   hack/critest.sh [critest flags...]    (root; e.g. --ginkgo.focus=Image)
#
# Prints critest's summary; exits with critest's status. The daemon's log is
# kept as $CRITEST_LOG (default /var/tmp/crisp-critest.log).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

# Specs that cannot pass here, whatever crisp does. Every other spec runs;
# those that need a host feature this machine lacks (AppArmor, NRI, user
# namespaces) skip themselves and say why.
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

if [ -z "${CRISP_CRITEST_NETNS:-}" ]; then
	require_root
	apt_install busybox-static iptables
	hack/install-tools.sh >/dev/null
	hack/install-cni.sh --plugins-only
	command -v critest >/dev/null || die "critest is missing (hack/install-tools.sh installs it)"
	WORK=$(mktemp -d /var/tmp/crisp-critest.XXXXXX)
	export WORK
	# shellcheck disable=SC2317 # run by the trap
	remove_work() {
		grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf "$WORK"
	}
	trap remove_work EXIT
	log "building crisp and the image registry"
	go build -buildvcs=false -tags "$CRISP_TAGS" -o "$WORK/crisp" ./cmd/crisp
	go build -buildvcs=false -o "$WORK/registry" ./test/critest
	CGO_ENABLED=0 go build -buildvcs=false -o "$WORK/nonewprivs" ./test/critest/nonewprivs
	status=0
	CRISP_CRITEST_NETNS=1 unshare --net -- "$0" "$@" || status=$?
	exit $status
fi

# From here on: inside the private network namespace.
ip link set lo up
LOGFILE=${CRITEST_LOG:-/var/tmp/crisp-critest.log}
PIDS=()
# Containers outlive the daemon: remove the pods an interrupted spec left
# before stopping it.
cleanup() {
	if [ -S "$WORK/run/crisp.sock" ]; then
		timeout 60 crictl --runtime-endpoint "unix://$WORK/run/crisp.sock" rmp --all --force >/dev/null 2>&1 || true
	fi
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$WORK/registry" -addr 127.0.0.1:5000 -nonewprivs "$WORK/nonewprivs" >"$WORK/registry.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 600); do grep -q '^ready' "$WORK/registry.out" && break; sleep 0.1; done
grep -q '^ready' "$WORK/registry.out" || { cat "$WORK/registry.out" >&2; die "registry did not start"; }
ADDR=$(awk '/^ready/ {print $2}' "$WORK/registry.out")

# registries.conf v2: a reference whose registry matches a prefix is pulled
# from location with the prefix replaced; the registry holds each upstream
# registry's images under a namespace named after it.
: >"$WORK/registries.conf"
for host in registry.k8s.io gcr.io k8s.gcr.io docker.io; do
	printf '[[registry]]\nprefix = "%s"\nlocation = "%s/%s"\ninsecure = true\n\n' "$host" "$ADDR" "$host" >>"$WORK/registries.conf"
done

mkdir -p "$WORK/cni/net.d" "$WORK/cni/bin"
for p in bridge host-local loopback portmap; do ln -sf "/opt/cni/bin/$p" "$WORK/cni/bin/$p"; done
cat >"$WORK/cni/net.d/10-critest.conflist" <<EOF
{"cniVersion":"1.0.0","name":"crisp-critest","plugins":[
  {"type":"bridge","bridge":"critest0","isGateway":true,"ipMasq":false,
   "ipam":{"type":"host-local","dataDir":"$WORK/ipam","ranges":[[{"subnet":"10.99.0.0/24"}]]}},
  {"type":"portmap","capabilities":{"portMappings":true}}]}
EOF
cgmount=/sys/fs/cgroup
[ -f /sys/fs/cgroup/cgroup.controllers ] || cgmount=/sys/fs/cgroup/unified
cat >"$WORK/crisp.toml" <<EOF
root = "$WORK/root"
state = "$WORK/run"
[grpc]
address = "unix://$WORK/run/crisp.sock"
shutdown_timeout = "5s"
[cgroup]
mount = "$cgmount"
missing_controller = "warn"
[cni]
conf_dir = "$WORK/cni/net.d"
bin_dirs = ["$WORK/cni/bin"]
[image]
registries_conf = "$WORK/registries.conf"
registries_conf_dir = "$WORK/registries.conf.d"
signature_policy = "$WORK/policy.json"
EOF

"$WORK/crisp" --config "$WORK/crisp.toml" >"$LOGFILE" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do [ -S "$WORK/run/crisp.sock" ] && break; sleep 0.1; done
[ -S "$WORK/run/crisp.sock" ] || { cat "$LOGFILE" >&2; die "crisp did not start"; }

# An OOM kill needs a memory limit, and memory statistics need the memory
# controller, in the cgroup v2 hierarchy; a hybrid host keeps it in cgroup
# v1, so crisp reports no memory section there.
if ! grep -qw memory "$cgmount/cgroup.controllers"; then
	SKIPS+=('should terminate with exitCode 137 and reason OOMKilled')
	SKIPS+=('runtime should support listing container stats \[Conformance\]')
fi
skip=$(IFS='|'; echo "${SKIPS[*]}")
log "critest (daemon log: $LOGFILE)"
critest --runtime-endpoint "unix://$WORK/run/crisp.sock" --image-endpoint "unix://$WORK/run/crisp.sock" \
	--ginkgo.no-color --ginkgo.skip="$skip" "$@"
