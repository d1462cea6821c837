# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source it
# Shared settings of the test cluster scripts (hack/cluster/*.sh). Source it
# after hack/lib.sh; do not run it. See docs/cluster.md.

# Pinned releases. Kubernetes is KUBERNETES_VERSION of hack/lib.sh (kubelet's
# too). etcd is the release k8s.io/kubernetes v1.37.2 is built against (its
# go.mod requires go.etcd.io/etcd/*/v3 v3.7.0) and kubeadm v1.37 deploys
# (DefaultEtcdVersion 3.7.0-0); CoreDNS is the one kubeadm v1.37 deploys
# (CoreDNSVersion v1.14.6).
ETCD_VERSION=v3.7.0
COREDNS_VERSION=v1.14.6

# Built binaries, kept between runs.
CLUSTER_CACHE=${CRISP_CLUSTER_CACHE:-/var/cache/crisp-cluster}
CLUSTER_BIN=$CLUSTER_CACHE/bin
# The control plane's components, built by hack/cluster/build.sh.
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)

# The cluster's private network: a bridge in a network namespace of its own,
# which the control plane lives in and the nodes' tap devices join.
CLUSTER_NETNS=${CRISP_CLUSTER_NETNS:-crisp-cluster}
CLUSTER_BRIDGE=br0
CLUSTER_SUBNET_PREFIX=10.77.0
CLUSTER_PREFIX_LEN=24
# The control plane's address on the bridge; nodes get .11, .12, ...
CONTROL_PLANE_IP=$CLUSTER_SUBNET_PREFIX.1
# Services and pods. The API server's service address (the first of the
# service range) is in its certificate.
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_CIDR=10.244.0.0/16
NODE_CIDR_MASK=24
CLUSTER_DOMAIN=cluster.local
APISERVER_PORT=6443

# Work directory of a running cluster: certificates, kubeconfigs, logs,
# etcd's data, pid files.
CLUSTER_WORK=${CRISP_CLUSTER_WORK:-/var/tmp/crisp-cluster}

# node_ip N prints the address of node N (1, 2, ...) on the bridge.
node_ip() {
	echo "$CLUSTER_SUBNET_PREFIX.$((10 + $1))"
}
