#!/usr/bin/env bash
# Makes a throwaway certificate authority and every certificate and
# kubeconfig the test cluster needs, with openssl, into DIR:
#
#   ca.{crt,key}                      the cluster CA: signs every client and
#                                     serving certificate and, in
#                                     kube-controller-manager, approved CSRs
#   apiserver.{crt,key}               kube-apiserver's serving certificate:
#                                     the kubernetes service names, the
#                                     first service address, the control
#                                     plane's address, 127.0.0.1
#   apiserver-kubelet-client.{crt,key} kube-apiserver to kubelets
#                                     (O=system:masters)
#   front-proxy-ca.{crt,key}, front-proxy-client.{crt,key}
#                                     the aggregation layer's request headers
#   sa.{key,pub}                      service account token signing pair
#   admin.conf, controller-manager.conf, scheduler.conf, kube-proxy.conf
#                                     kubeconfigs with client certificates
#                                     (also as <name>.{crt,key})
#   kubelet-<node>.conf               per node: CN system:node:<node>,
#                                     O system:nodes, for the Node authorizer
#   kubelet-<node>-serving.{crt,key}  per node: kubelet's serving certificate
#                                     (the node's name and address)
#
# Files that exist are kept, so the script can be run again to add a node.
# Keys are ECDSA P-256, except the RSA service account key.
#
# usage: hack/cluster/pki.sh DIR [NODE=IP ...]
#   default nodes: crisp-node-1 and crisp-node-2 at their addresses on the
#   cluster network (hack/cluster/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh

[ $# -ge 1 ] || die "usage: $0 DIR [NODE=IP ...]"
DIR=$1
shift
NODES=("$@")
[ ${#NODES[@]} -gt 0 ] || NODES=("crisp-node-1=$(node_ip 1)" "crisp-node-2=$(node_ip 2)")

DAYS=365
SERVER=https://$CONTROL_PLANE_IP:$APISERVER_PORT
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"

new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# ca NAME CN: a self-signed CA.
ca() {
	[ -e "$1.crt" ] && return 0
	new_key "$1.key"
	openssl req -x509 -new -key "$1.key" -days "$DAYS" -subj "/CN=$2" -out "$1.crt" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign"
}

# cert NAME CA SUBJECT USAGE [SAN]: a certificate signed by CA; USAGE is
# clientAuth, serverAuth or both.
cert() {
	local name=$1 ca=$2 subj=$3 usage=$4 san=${5:-}
	[ -e "$name.crt" ] && return 0
	new_key "$name.key"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$usage"
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$name.ext"
	openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
	openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
		-days "$DAYS" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

b64() { base64 -w0 <"$1"; }

# kubeconfig NAME USER: NAME.conf for the client certificate NAME.{crt,key}.
kubeconfig() {
	local name=$1 user=$2
	[ -e "$name.conf" ] && return 0
	cat >"$name.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: crisp
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 ca.crt)
users:
- name: $user
  user:
    client-certificate-data: $(b64 "$name.crt")
    client-key-data: $(b64 "$name.key")
contexts:
- name: $user@crisp
  context:
    cluster: crisp
    user: $user
current-context: $user@crisp
EOF
	chmod 600 "$name.conf"
}

ca ca crisp-cluster-ca
ca front-proxy-ca crisp-cluster-front-proxy-ca

sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
sans+=",DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
sans+=",IP:$KUBERNETES_SERVICE_IP,IP:$CONTROL_PLANE_IP,IP:127.0.0.1"
cert apiserver ca "/CN=kube-apiserver" serverAuth "$sans"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth

if [ ! -e sa.key ]; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
	chmod 600 sa.key
	openssl pkey -in sa.key -pubout -out sa.pub
fi

cert admin ca "/O=system:masters/CN=kubernetes-admin" clientAuth
kubeconfig admin kubernetes-admin
cert controller-manager ca "/CN=system:kube-controller-manager" clientAuth
kubeconfig controller-manager system:kube-controller-manager
cert scheduler ca "/CN=system:kube-scheduler" clientAuth
kubeconfig scheduler system:kube-scheduler
cert kube-proxy ca "/CN=system:kube-proxy" clientAuth
kubeconfig kube-proxy system:kube-proxy

for n in "${NODES[@]}"; do
	name=${n%%=*} ip=${n#*=}
	[[ $name != "$n" && $name =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "want NODE=IP, got '$n'"
	cert "kubelet-$name" ca "/O=system:nodes/CN=system:node:$name" clientAuth
	kubeconfig "kubelet-$name" "system:node:$name"
	cert "kubelet-$name-serving" ca "/O=system:nodes/CN=system:node:$name" serverAuth "DNS:$name,IP:$ip"
done
rm -f ./*.srl
