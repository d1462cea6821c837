#!/usr/bin/env bash
# Kubernetes' own conformance tests against the test cluster: builds
# e2e.test of k8s.io/kubernetes at KUBERNETES_VERSION (hack/k8s-build.sh,
# cached in CLUSTER_BIN), agnhost and pause of the same release, starts the
# control plane, the cluster's image registry and both nodes with CoreDNS
# (the control-plane, nodes and dns scenarios of hack/cluster/e2e.sh), then
# runs the [sig-node] [Conformance] specs against the cluster. The control
# plane and the nodes are stopped at the end, whatever happened. See
# docs/cluster.md.
#
# usage: hack/cluster/conformance.sh [FOCUS]
#   FOCUS   the ginkgo focus, a regular expression of spec names (default:
#           '\[sig-node\].*\[Conformance\]')
#   CONFORMANCE_SKIP       a ginkgo skip, a regular expression of spec names
#                          left out (default: none)
#   CLUSTER_NODE_TIMEOUT   the nodes' lifetime in seconds (default here: 6
#                          hours; the run takes more than one)
#
# The nodes reach no public registry: the images the tests pull are built
# here and served by test/e2e/cluster/conformance-registry on the control
# plane's address in the cluster's network namespace (port 5000); the
# nodes' registries.conf maps registry.k8s.io there (test/e2e/cluster/
# node.sh).
#
# The report (JUnit XML and the run's log) is in CONFORMANCE_OUT
# (_output/conformance); the cluster's logs are in _output/cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/k8s-build.sh
. hack/cluster/lib.sh
. hack/cluster/busybox.sh
require_root

FOCUS=${1:-'\[sig-node\].*\[Conformance\]'}
SKIP=${CONFORMANCE_SKIP:-}
export CLUSTER_NODE_TIMEOUT=${CLUSTER_NODE_TIMEOUT:-21600}
OUT=${CONFORMANCE_OUT:-$PWD/_output/conformance}
REGISTRY_PORT=5000
PKI=$CLUSTER_WORK/pki

build() {
	# The test images' /bin/sh (hack/cluster/busybox.sh says why).
	busybox_sh_build "$CLUSTER_BIN/busybox-sh"
	hack/cluster/build.sh
	if [ "$(cat "$CLUSTER_BIN/e2e.version" 2>/dev/null)" != "$KUBERNETES_VERSION" ]; then
		log "building e2e.test and agnhost $KUBERNETES_VERSION (about 15 minutes on 2 cores)"
		k8s_build_e2e "$KUBERNETES_VERSION" "$CLUSTER_BIN"
	fi
	# pause as kubernetes builds it: static, warnings as errors.
	local src
	src=$(cd / && GOFLAGS=-mod=mod GOWORK=off go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/build/pause/linux/pause.c
	[ -r "$src" ] || die "no $src in the module cache"
	if [ ! -x "$CLUSTER_BIN/pause" ] || [ "$src" -nt "$CLUSTER_BIN/pause" ]; then
		gcc -Os -Wall -Werror -static -DVERSION="$KUBERNETES_VERSION" -o "$CLUSTER_BIN/pause.new" "$src"
		mv -f "$CLUSTER_BIN/pause.new" "$CLUSTER_BIN/pause"
	fi
	mkdir -p "$OUT"
	nice -n 19 go build -o "$OUT/conformance-registry" ./test/e2e/cluster/conformance-registry
	CGO_ENABLED=0 nice -n 19 go build -buildvcs=false -o "$OUT/nonewprivs" ./test/critest/nonewprivs
}

# start_registry: the cluster's registry, in its network namespace, on the
# control plane's address; returns once it serves every image.
start_registry() {
	local i
	ip netns exec "$CLUSTER_NETNS" "$OUT/conformance-registry" -addr "$CONTROL_PLANE_IP:$REGISTRY_PORT" \
		-agnhost "$CLUSTER_BIN/agnhost" -pause "$CLUSTER_BIN/pause" -sh "$CLUSTER_BIN/busybox-sh" -nonewprivs "$OUT/nonewprivs" >"$OUT/registry.log" 2>&1 &
	for ((i = 0; i < 120; i++)); do
		grep -q '^ready ' "$OUT/registry.log" && return 0
		kill -0 $! 2>/dev/null || die "the registry failed: $(cat "$OUT/registry.log")"
		sleep 1
	done
	die "the registry was not ready within 120s"
}

main() {
	local start=$SECONDS rc=0
	build
	rm -f "$OUT"/junit*.xml "$OUT/e2e.log"
	trap 'hack/cluster/control-plane.sh stop' EXIT
	hack/cluster/control-plane.sh start
	start_registry
	CLUSTER_E2E_RUNNING=1 hack/cluster/e2e.sh control-plane nodes dns ||
		die "the cluster did not come up (see above)"
	log "running e2e.test --ginkgo.focus '$FOCUS'"
	# The tests' framework waits for every node to be schedulable and the
	# kube-system pods to run; it has no provider here and no SSH to the
	# nodes (logs are collected from the nodes' journals instead).
	ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/e2e.test" \
		--kubeconfig "$PKI/admin.conf" --provider skeleton --num-nodes 2 \
		--report-dir "$OUT" --disable-log-dump --dump-logs-on-failure=false \
		--ginkgo.focus "$FOCUS" ${SKIP:+--ginkgo.skip "$SKIP"} --ginkgo.no-color --ginkgo.timeout 5h \
		--ginkgo.junit-report "$OUT/junit.xml" >"$OUT/e2e.log" 2>&1 || rc=$?
	sed -n '/^Summarizing/,$p' "$OUT/e2e.log"
	grep -E '^(Ran|FAIL!|SUCCESS!)' "$OUT/e2e.log" || tail -20 "$OUT/e2e.log"
	log "conformance run: exit $rc, $((SECONDS - start))s; report in $OUT"
	return $rc
}

# One line: bash reads a script as it runs it, so a file changed under a
# running test must not feed it more commands once main returns.
main "$@"; exit
