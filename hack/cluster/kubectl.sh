#!/usr/bin/env bash
# kubectl as the test cluster's admin (kubernetes-admin, system:masters),
# run inside the cluster's network namespace, the only place the API server
# is reachable from. See docs/cluster.md.
#
# usage: hack/cluster/kubectl.sh ARG...
#   KUBECONFIG_NAME  another kubeconfig of the cluster's pki directory, e.g.
#                    kubelet-crisp-node-1 (default admin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/lib.sh"
conf=$CLUSTER_WORK/pki/${KUBECONFIG_NAME:-admin}.conf
[ -r "$conf" ] || die "no $conf: is the control plane up (hack/cluster/control-plane.sh start)?"
exec ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/kubectl" --kubeconfig "$conf" "$@"
