#!/usr/bin/env bash
# Acceptance check of the CRI ImageService with crictl against a running
# crisp daemon: pull from a loopback registry (by tag, by digest, with
# credentials), images, inspecti, imagefsinfo, rmi, and offline
# `crisp images load/list/rm` beside the daemon. Exits non-zero on the first
# failed expectation.
#
# Usage: hack/test-crictl-images.sh     (root; builds bin/crisp)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO_ROOT"
. hack/lib.sh
CRICTL_VERSION=v1.37.0
WORK=$(mktemp -d /var/tmp/crisp-crictl-images.XXXXXX)
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root"
[ -x /bin/busybox ] || apt-get install -y busybox-static >/dev/null
CRICTL=$(command -v crictl || true)
if [ -z "$CRICTL" ]; then
	GOBIN=/usr/local/bin GOFLAGS=-mod=mod go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	CRICTL=/usr/local/bin/crictl
fi
build_crisp bin
go build -o "$WORK/registry" ./test/registry

"$WORK/registry" -busybox library/busybox:1.35 -archives "$WORK" >"$WORK/registry.out" 2>&1 &
PIDS+=($!)
"$WORK/registry" -busybox private/busybox:1 -user alice:s3cret >"$WORK/private.out" 2>&1 &
PIDS+=($!)
for out in registry private; do
	for _ in $(seq 100); do grep -q '^ready' "$WORK/$out.out" && break; sleep 0.1; done
done
ADDR=$(awk '/^ready/ {print $2}' "$WORK/registry.out")
PRIVATE=$(awk '/^ready/ {print $2}' "$WORK/private.out")
DIGEST=$(awk '/^pushed/ {print $3}' "$WORK/registry.out")
[ -n "$ADDR" ] && [ -n "$PRIVATE" ] || fail "registries did not start"

printf '[[registry]]\nlocation = "%s"\ninsecure = true\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$ADDR" "$PRIVATE" >"$WORK/registries.conf"
cgmount=/sys/fs/cgroup
[ -f /sys/fs/cgroup/cgroup.controllers ] || cgmount=/sys/fs/cgroup/unified
cat >"$WORK/crisp.toml" <<TOML
root = "$WORK/root"
state = "$WORK/run"
[grpc]
address = "unix://$WORK/run/crisp.sock"
[cgroup]
mount = "$cgmount"
missing_controller = "warn"
[image]
registries_conf = "$WORK/registries.conf"
registries_conf_dir = "$WORK/registries.conf.d"
TOML
bin/crisp --config "$WORK/crisp.toml" >"$WORK/daemon.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$WORK/run/crisp.sock" ] && break; sleep 0.1; done
[ -S "$WORK/run/crisp.sock" ] || { cat "$WORK/daemon.log" >&2; fail "daemon did not start"; }

c() { "$CRICTL" --runtime-endpoint "unix://$WORK/run/crisp.sock" --image-endpoint "unix://$WORK/run/crisp.sock" "$@"; }
images() { bin/crisp images --config "$WORK/crisp.toml" "$@"; }
BB=$ADDR/library/busybox:1.35

c pull "$BB" | grep -q "Image is up to date" || fail "crictl pull $BB"
c images | grep -q "$ADDR/library/busybox *1.35" || fail "crictl images does not list $BB"
c inspecti "$BB" | grep -q '"architecture"' || fail "crictl inspecti has no image config"
c inspecti "$BB" | grep -q "$ADDR/library/busybox@$DIGEST" || fail "crictl inspecti has no repo digest"
c imagefsinfo | grep -q '"usedBytes"' || fail "crictl imagefsinfo"
c pull "$ADDR/library/busybox@$DIGEST" >/dev/null || fail "pull by digest"
if c pull "$PRIVATE/private/busybox:1" >/dev/null 2>"$WORK/err"; then fail "pull without credentials succeeded"; fi
grep -q "authentication failed" "$WORK/err" || fail "no credentials: $(cat "$WORK/err")"
c pull --creds alice:s3cret "$PRIVATE/private/busybox:1" >/dev/null || fail "pull with credentials"
if c pull "Bad//Ref" 2>"$WORK/err"; then fail "invalid reference pulled"; fi
grep -q "InvalidArgument" "$WORK/err" || fail "invalid reference: $(cat "$WORK/err")"
c rmi "$BB" >/dev/null || fail "crictl rmi"
c images | grep -q "$ADDR/library/busybox" && fail "image still listed after rmi"

# Offline, beside the running daemon.
images load "$WORK/busybox.docker.tar" | grep -q "airgap.example/tools/busybox:docker" || fail "load docker-archive"
images load "$WORK/busybox.oci.tar.gz" | grep -q "airgap.example/tools/busybox:oci" || fail "load oci-archive"
images list | grep -q "airgap.example/tools/busybox *oci" || fail "crisp images list"
c images | grep -q "airgap.example/tools/busybox" || fail "the daemon does not see loaded images"
images rm airgap.example/tools/busybox:oci >/dev/null || fail "crisp images rm"
c images | grep -q "airgap.example/tools/busybox" && fail "removed image still listed by the daemon"
grep -E '^E[0-9]{4}|panic' "$WORK/daemon.log" | grep -v "PullImage\|pull " && fail "daemon logged errors"
echo "crictl images acceptance: 1 passed, 0 failed"
