#!/usr/bin/env bash
# Builds the test cluster's binaries at their pinned releases into
# CLUSTER_BIN (/var/cache/crisp-cluster/bin): kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy and kubectl from
# k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3 and CoreDNS from
# github.com/coredns/coredns, each in a throwaway module through the Go
# module proxy (hack/k8s-build.sh), niced, one at a time. kubelet is
# hack/install-kubelet.sh's, in the tools directory. Idempotent: a binary
# built from its pinned release is kept. See docs/cluster.md.
#
# usage: hack/cluster/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/k8s-build.sh
. hack/cluster/lib.sh
require_root

start=$SECONDS
hack/install-kubelet.sh

missing=()
for c in "${K8S_COMPONENTS[@]}"; do
	[ "$(k8s_version_of "$CLUSTER_BIN/$c")" = "Kubernetes $KUBERNETES_VERSION" ] || missing+=("$c")
done
for c in "${missing[@]}"; do
	log "building $c $KUBERNETES_VERSION"
	k8s_build "$KUBERNETES_VERSION" "$CLUSTER_BIN" "$c"
done

# etcd's server module holds its main package; its go.mod replaces etcd's
# other modules with local directories, which a dependent module ignores:
# they resolve to the same release from the proxy.
if ! has_module_version "$CLUSTER_BIN/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"; then
	log "building etcd $ETCD_VERSION"
	throwaway_build go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$CLUSTER_BIN/.build" "-s -w" "" go.etcd.io/etcd/server/v3
	mv -f "$CLUSTER_BIN/.build/v3" "$CLUSTER_BIN/etcd"
	rmdir "$CLUSTER_BIN/.build"
fi

if ! has_module_version "$CLUSTER_BIN/coredns" github.com/coredns/coredns "$COREDNS_VERSION"; then
	log "building coredns $COREDNS_VERSION"
	throwaway_build github.com/coredns/coredns "$COREDNS_VERSION" "$CLUSTER_BIN" "-s -w" "" github.com/coredns/coredns
fi

log "cluster binaries $KUBERNETES_VERSION, etcd $ETCD_VERSION, coredns $COREDNS_VERSION in $CLUSTER_BIN ($((SECONDS - start))s)"
