#!/bin/bash
# A test cluster node, in the qemu guest (hack/cluster/node.sh starts it):
# joins the cluster's network on its tap device, installs crisp as a
# systemd service with the systemd cgroup driver (as the kubelet end-to-end
# test does), starts kubelet with the node's pre-made kubeconfig
# (system:node:NAME) and serving certificate, and gives the pod network the
# pod CIDR kube-controller-manager allocated the node, starts kube-proxy
# (iptables mode) with the system:kube-proxy kubeconfig, and loads the
# image archives (pods run them with imagePullPolicy Never). Then it runs
# until WORK/nodes/NAME/stop appears, and copies the daemons' journals to
# WORK/logs/NAME. Meanwhile it keeps routes to the other nodes' pod CIDRs
# (WORK/routes) and runs the commands the host asks for (WORK/nodes/NAME/
# req.sh, see run_request). See docs/cluster.md.
#
# usage: node.sh WORK NAME IP/PREFIX GATEWAY
set -euo pipefail
WORK=$1 NAME=$2 ADDR=$3 GATEWAY=$4
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
PKI=$WORK/pki
STATE=$WORK/nodes/$NAME
LOGS=$WORK/logs/$NAME
KUBELET_UNIT=crisp-kubelet.service
PROXY_UNIT=crisp-kube-proxy.service
mkdir -p "$LOGS"
export CONTAINER_RUNTIME_ENDPOINT=unix:///run/crisp/crisp.sock

log() { echo "$NAME: $*"; }
die() {
	echo "$NAME: error: $*" >&2
	exit 1
}
WAIT_INTERVAL=1
. "$REPO/test/e2e/checks.sh"
. "$REPO/test/e2e/crisp-service.sh"

collect_logs() {
	journalctl -u crisp --no-pager >"$LOGS/crisp.log" 2>&1 || true
	journalctl -u "$KUBELET_UNIT" --no-pager >"$LOGS/kubelet.log" 2>&1 || true
	journalctl -u "$PROXY_UNIT" --no-pager >"$LOGS/kube-proxy.log" 2>&1 || true
	iptables-save >"$LOGS/iptables.txt" 2>&1 || true
	crictl pods >"$LOGS/crictl-pods.txt" 2>&1 || true
	crictl ps -a >"$LOGS/crictl-ps.txt" 2>&1 || true
	ip addr >"$LOGS/ip-addr.txt" 2>&1 || true
	ip route >"$LOGS/ip-route.txt" 2>&1 || true
}
trap collect_logs EXIT

# The cluster network: the first device that is not loopback.
dev=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2; exit }')
[ -n "$dev" ] || die "no network device (qemu-run.sh --tap)"
ip link set "$dev" up
ip addr add "$ADDR" dev "$dev"
ip route add default via "$GATEWAY"
hostname "$NAME"
echo "$NAME" >/etc/hostname

systemctl is-system-running --wait >/dev/null 2>&1 || true

# crisp as an admin installs it.
# No network configuration until the node has its pod CIDR (below): until
# then crisp reports NetworkReady false and the node is not Ready.
install_crisp_service "$WORK/node/crisp"
# The images pods need are pinned: kubelet's image garbage collection, set
# to collect every unused image (below), must leave them, since they cannot
# be pulled again. The unused image is not pinned.
# registry.k8s.io is the cluster's own registry on the control plane's
# address (plain HTTP), which hack/cluster/conformance.sh runs with the
# images Kubernetes' e2e tests pull, under their upstream names.
cat >/etc/crisp/registries.conf <<EOF2
[[registry]]
prefix = "registry.k8s.io"
location = "$GATEWAY:5000/registry.k8s.io"
insecure = true
EOF2
cat >>/etc/crisp/crisp.toml <<'EOF2'
[image]
pinned_images = ["crisp.test/busybox:*", "crisp.test/coredns:*"]
registries_conf = "/etc/crisp/registries.conf"
EOF2
systemctl restart crisp
wait_for 60 crictl version >/dev/null 2>&1 || die "crisp did not answer after its restart"
# The nodes reach no registry: pods use the images loaded here, with
# imagePullPolicy Never.
for archive in busybox coredns unused; do
	crisp images load "$WORK/node/$archive.tar" >>"$LOGS/images-load.log" 2>&1 ||
		die "crisp images load $archive.tar failed: $(tail -3 "$LOGS/images-load.log")"
done
log "crisp runs, with $(crictl images -q | wc -l) image(s)"

# kubelet: the node's client certificate (system:node:NAME, system:nodes)
# in its kubeconfig, its serving certificate signed by the cluster CA, which
# kube-apiserver checks; webhook authentication and authorization of its
# own clients through the API server.
install -d -m 0700 /etc/kubernetes/pki
install -m 0644 "$PKI/ca.crt" /etc/kubernetes/pki/ca.crt
install -m 0600 "$PKI/kubelet-$NAME.conf" /etc/kubernetes/kubelet.conf
install -m 0644 "$PKI/kubelet-$NAME-serving.crt" /etc/kubernetes/pki/kubelet.crt
install -m 0600 "$PKI/kubelet-$NAME-serving.key" /etc/kubernetes/pki/kubelet.key
install -d /var/lib/kubelet
printf 'nameserver %s\n' "$GATEWAY" >/etc/kubernetes/resolv.conf
cat >/etc/kubernetes/kubelet.yaml <<EOF2
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: $CONTAINER_RUNTIME_ENDPOINT
imageServiceEndpoint: $CONTAINER_RUNTIME_ENDPOINT
cgroupDriver: systemd
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: /etc/kubernetes/pki/kubelet.crt
tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet.key
clusterDomain: ${CLUSTER_DOMAIN:-cluster.local}
clusterDNS: [${DNS_SERVICE_IP:-10.96.0.10}]
resolvConf: /etc/kubernetes/resolv.conf
failSwapOn: false
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
# Image GC collects every unused image that is not pinned, at its first
# round after a minute (kubelet runs it every 5 minutes): the disk is
# always above 1% used.
imageGCHighThresholdPercent: 1
imageGCLowThresholdPercent: 0
imageMinimumGCAge: 10s
EOF2
systemd-run --quiet --unit "$KUBELET_UNIT" --property Delegate=yes --property KillMode=process \
	"$(command -v kubelet)" --config /etc/kubernetes/kubelet.yaml --kubeconfig /etc/kubernetes/kubelet.conf \
	--hostname-override "$NAME" --node-ip "${ADDR%/*}" --v 2 >/dev/null
kubelet_healthy() { [[ $(busybox wget -q -O - http://127.0.0.1:10248/healthz 2>/dev/null) == ok ]]; }
wait_for 120 kubelet_healthy || die "kubelet not healthy within 120s: $(journalctl -u "$KUBELET_UNIT" --no-pager | tail -5)"
log "kubelet $(kubelet --version 2>&1 | awk '{ print $2 }') healthy"

# The pod network: a bridge on the pod CIDR kube-controller-manager
# allocated this node, read from the node's own Node object.
kc() { kubectl --kubeconfig /etc/kubernetes/kubelet.conf "$@"; }
pod_cidr() { cidr=$(kc get node "$NAME" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null) && [ -n "$cidr" ]; }
wait_for 300 pod_cidr || die "no pod CIDR for node $NAME within 300s"
cat >/etc/cni/net.d/10-crisp-cluster.conflist <<EOF2
{
  "cniVersion": "1.0.0",
  "name": "crisp-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$cidr" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    {
      "type": "portmap",
      "backend": "iptables",
      "capabilities": { "portMappings": true }
    }
  ]
}
EOF2
log "pod network on $cidr"

# kube-proxy: ClusterIP services, in iptables mode, as system:kube-proxy.
# Pods' traffic to a service backend on the same bridge must pass through
# iptables for its replies to be translated back (br_netfilter).
modprobe -q br_netfilter
sysctl -qw net.bridge.bridge-nf-call-iptables=1
install -m 0600 "$PKI/kube-proxy.conf" /etc/kubernetes/kube-proxy.conf
cat >/etc/kubernetes/kube-proxy.yaml <<EOF2
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: /etc/kubernetes/kube-proxy.conf
mode: iptables
clusterCIDR: ${CLUSTER_CIDR:-10.244.0.0/16}
hostnameOverride: $NAME
bindAddress: ${ADDR%/*}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  # The guest's conntrack table size is left as it is.
  maxPerCore: 0
EOF2
systemd-run --quiet --unit "$PROXY_UNIT" \
	"$(command -v kube-proxy)" --config /etc/kubernetes/kube-proxy.yaml --v 2 >/dev/null
proxy_healthy() { busybox wget -q -O /dev/null http://127.0.0.1:10256/healthz 2>/dev/null; }
wait_for 120 proxy_healthy || die "kube-proxy not healthy within 120s: $(journalctl -u "$PROXY_UNIT" --no-pager | tail -5)"
log "kube-proxy healthy"

echo "$cidr" >"$STATE/pod-cidr"
: >"$STATE/up"

# Routes to the other nodes' pods: WORK/routes has a line "NAME CIDR IP" per
# node that is up (hack/cluster/node.sh writes it); this node forwards
# between the cluster network and its pods.
sysctl -qw net.ipv4.ip_forward=1
take_routes() {
	local name cidr ip
	[ -r "$WORK/routes" ] || return 0
	while read -r name cidr ip; do
		[ "$name" = "$NAME" ] && continue
		[[ $(ip route show "$cidr" 2>/dev/null) == *"via $ip dev $dev"* ]] && continue
		ip route replace "$cidr" via "$ip" dev "$dev" && log "route to $name's pods: $cidr via $ip"
	done <"$WORK/routes"
}
# run_request: the host's e2e.sh runs a command on the node by writing a
# script to STATE/req.sh; its output goes to STATE/out and, last, its exit
# status to STATE/rc, which the host waits for. One at a time, 300 s at
# most.
run_request() {
	local rc=0
	[ -e "$STATE/req.sh" ] || return 0
	mv "$STATE/req.sh" "$STATE/req.running"
	timeout 300 bash "$STATE/req.running" >"$STATE/out.new" 2>&1 </dev/null || rc=$?
	mv "$STATE/out.new" "$STATE/out"
	echo "$rc" >"$STATE/rc.new"
	mv "$STATE/rc.new" "$STATE/rc"
	rm -f "$STATE/req.running"
}
until [ -e "$STATE/stop" ]; do
	take_routes
	run_request
	sleep 1
done
log "stopping"
systemctl stop "$PROXY_UNIT" 2>/dev/null || true
systemctl stop "$KUBELET_UNIT" 2>/dev/null || true
