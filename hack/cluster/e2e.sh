#!/usr/bin/env bash
# The test cluster, end to end: builds its binaries (hack/cluster/build.sh),
# starts the control plane (hack/cluster/control-plane.sh) and runs the
# scenarios; every check prints "ok   ..." or "FAIL ...", and the script
# exits non-zero when one failed. The control plane is stopped at the end,
# whatever happened, and its logs are in _output/cluster. See
# docs/cluster.md.
#
# usage: hack/cluster/e2e.sh [SCENARIO...]   (default: all)
#   control-plane  the API server is ready; RBAC decides; the Node authorizer
#                  and NodeRestriction hold a node to its own objects; the
#                  controller manager allocates pod CIDRs, signs CSRs and
#                  makes service accounts
#   nodes          two nodes (hack/cluster/node.sh), qemu guests on the
#                  cluster's bridge with crisp and kubelet, join with their
#                  pre-made kubeconfigs and turn Ready; kube-scheduler puts
#                  a pod on each, crisp runs it, kubectl logs and exec reach
#                  it through the API server and kubelet; the pods reach
#                  each other across the nodes, and the control plane them
#
#   CLUSTER_E2E_RUNNING=1  run against the control plane that runs now
#                          (hack/cluster/control-plane.sh start): no build,
#                          no start, no stop
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh
require_root

SCENARIOS=(control-plane nodes)
PKI=$CLUSTER_WORK/pki
NODE1=crisp-node-1
NODE2=crisp-node-2

. test/e2e/checks.sh
# Only the check lines: what a check's command says on stderr explains a
# failure.
CHECK_OUT=/dev/null
# expect SECONDS DESC CMD...: pass once CMD succeeds, polled every second.
expect() {
	local secs=$1 desc=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null; do
		if ((SECONDS >= deadline)); then
			fail "$desc (not within ${secs}s)"
			return 0
		fi
		sleep 1
	done
	pass "$desc"
}

APISERVER=https://$CONTROL_PLANE_IP:$APISERVER_PORT
in_ns() { ip netns exec "$CLUSTER_NETNS" "$@"; }

# kc KUBECONFIG ARG...: kubectl with one of the cluster's kubeconfigs
# (admin, scheduler, kubelet-crisp-node-1, ...), in the cluster's namespace.
kc() {
	local conf=$1
	shift
	ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/kubectl" --kubeconfig "$PKI/$conf.conf" "$@"
}
# out_is WANT CMD...: CMD's stdout is WANT (its status is ignored: kubectl
# auth can-i exits 1 with "no").
out_is() {
	local want=$1 got err
	shift
	err=$(mktemp)
	got=$("$@" 2>"$err") || true
	if [ "$got" != "$want" ]; then
		echo "     got '$got', want '$want' $(head -c 300 "$err")" >&2
		rm -f "$err"
		return 1
	fi
	rm -f "$err"
}
# can_i yes|no KUBECONFIG ARG...: kubectl auth can-i ARG... answers yes or
# no (a "no" may carry the authorizer's reason after it).
can_i() {
	local want=$1 conf=$2 got
	shift 2
	got=$(kc "$conf" auth can-i "$@" 2>/dev/null) || true
	[ "${got%% *}" = "$want" ] || { echo "     can-i $*: got '$got', want '$want'" >&2; return 1; }
}
# refused PATTERN CMD...: CMD fails and says PATTERN (a grep -E pattern).
refused() {
	local pattern=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "     accepted: $out" >&2
		return 1
	fi
	grep -qE "$pattern" <<<"$out" || { echo "     refused, but not with /$pattern/: $out" >&2; return 1; }
}

# patch_node_as NODE TARGET: a merge patch of TARGET's labels with NODE's
# client certificate, straight to the API (kubectl patch reads the object
# first, which the Node authorizer refuses already); fails unless accepted.
patch_node_as() {
	local out
	out=$(in_ns curl -s --cacert "$PKI/ca.crt" --cert "$PKI/kubelet-$1.crt" --key "$PKI/kubelet-$1.key" \
		-X PATCH -H 'Content-Type: application/merge-patch+json' \
		-d '{"metadata":{"labels":{"crisp-e2e":"x"}}}' -w '\n%{http_code}' "$APISERVER/api/v1/nodes/$2")
	echo "$out"
	[ "${out##*$'\n'}" = 200 ]
}

node_manifest() {
	cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels:
    kubernetes.io/hostname: $1
EOF
}

no_failed_readyz() {
	local out
	out=$(kc admin get --raw '/readyz?verbose') || return 1
	! grep '^\[-\]' <<<"$out" >&2
}

node_cidr() { kc admin get node "$1" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null; }

server_version_is() {
	local out
	out=$(kc admin get --raw /version) || return 1
	grep -q "\"gitVersion\": \"$1\"" <<<"$out" || { echo "     $out" >&2; return 1; }
}

has_node_cidr() { [[ $(node_cidr "$1") == 10.244.*/"$NODE_CIDR_MASK" ]]; }

scenario_control_plane() {
	echo "--- control-plane"
	check "kube-apiserver /readyz is ok" out_is ok kc admin get --raw /readyz
	check "no /readyz check fails (verbose)" no_failed_readyz
	check "the server reports $KUBERNETES_VERSION" server_version_is "$KUBERNETES_VERSION"
	check "an anonymous request may read /readyz" \
		out_is 200 in_ns curl -sk -o /dev/null -w '%{http_code}' "$APISERVER/readyz"
	check "an anonymous request may not list namespaces" \
		out_is 403 in_ns curl -sk -o /dev/null -w '%{http_code}' "$APISERVER/api/v1/namespaces"

	# RBAC: system:masters may do anything; the scheduler's user its
	# bootstrap role, no more; a service account nothing by default.
	check "RBAC: admin (system:masters) can-i '*' '*'" can_i yes admin '*' '*'
	check "RBAC: system:kube-scheduler can-i create pods/binding" can_i yes scheduler create pods --subresource=binding
	check "RBAC: system:kube-scheduler cannot delete nodes" can_i no scheduler delete nodes
	check "RBAC: system:kube-proxy can-i list endpointslices" can_i yes kube-proxy list endpointslices.discovery.k8s.io
	check "RBAC: system:kube-proxy cannot list secrets" can_i no kube-proxy list secrets
	check "RBAC: a service account cannot list secrets" \
		can_i no admin list secrets --as=system:serviceaccount:default:default
	check "RBAC: a user with no binding is refused" refused 'Forbidden|forbidden' \
		kc admin get pods --as=crisp-e2e-nobody

	# The Node authorizer and NodeRestriction: a kubelet's client
	# certificate (system:node:<name>, system:nodes) registers its own Node
	# and no other, and reads no secret it has no pod for.
	kc admin delete node "$NODE1" "$NODE2" --ignore-not-found >/dev/null 2>&1 || true
	check "node $NODE1 registers its own Node with its client certificate" \
		kc "kubelet-$NODE1" create -f <(node_manifest "$NODE1") -o name
	check "node $NODE1 may not create Node $NODE2 (NodeRestriction)" \
		refused "is not allowed to modify node [^a-z0-9]*$NODE2" kc "kubelet-$NODE1" create -f <(node_manifest "$NODE2")
	check "node $NODE2 registers its own Node with its client certificate" \
		kc "kubelet-$NODE2" create -f <(node_manifest "$NODE2") -o name
	check "node $NODE1 may not read Node $NODE2 (Node authorizer)" \
		refused "cannot read '$NODE2', only its own Node object" kc "kubelet-$NODE1" get node "$NODE2"
	check "node $NODE1 may not patch Node $NODE2 (NodeRestriction)" \
		refused "is not allowed to modify node [^a-z0-9]*$NODE2" \
		patch_node_as "$NODE1" "$NODE2"
	check "node $NODE1 may patch its own Node" patch_node_as "$NODE1" "$NODE1"
	kc admin create secret generic crisp-e2e-secret --from-literal=k=v >/dev/null 2>&1 || true
	check "node $NODE1 may not read a secret no pod of it uses (Node authorizer)" \
		refused "no relationship found between node '$NODE1' and this object" \
		kc "kubelet-$NODE1" get secret crisp-e2e-secret
	check "node $NODE1 may not list secrets (Node authorizer)" can_i no "kubelet-$NODE1" list secrets
	check "the Node authorizer answers for node $NODE1 (get its Node)" can_i yes "kubelet-$NODE1" get "nodes/$NODE1"

	# kube-controller-manager: node IPAM, the CSR signer, service accounts.
	expect 60 "kube-controller-manager allocates $NODE1 a /$NODE_CIDR_MASK pod CIDR" has_node_cidr "$NODE1"
	expect 60 "kube-controller-manager allocates $NODE2 a /$NODE_CIDR_MASK pod CIDR" has_node_cidr "$NODE2"
	check "the two nodes' pod CIDRs differ" bash -c "[ '$(node_cidr "$NODE1")' != '$(node_cidr "$NODE2")' ]"
	expect 60 "the default service account of namespace default exists" kc admin get serviceaccount default -o name
	csr_signed
	kc admin delete node "$NODE1" "$NODE2" --ignore-not-found >/dev/null 2>&1 || true
	kc admin delete secret crisp-e2e-secret --ignore-not-found >/dev/null 2>&1 || true
}

node_ready() {
	[ "$(kc admin get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
node_field_is() {
	out_is "$3" kc admin get node "$1" -o "jsonpath=$2"
}

pod_manifest() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  nodeSelector:
    kubernetes.io/hostname: $2
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: crisp.test/busybox:e2e
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello from \$(hostname); mkdir -p /www; cat /etc/hostname >/www/index.html; exec busybox httpd -f -p 8080 -h /www"]
EOF
}
pod_running() { [ "$(kc admin get pod "$1" -o 'jsonpath={.status.phase}' 2>/dev/null)" = Running ]; }
pod_gone() { ! kc admin get pod "$1" >/dev/null 2>&1; }
logs_have() {
	local out
	out=$(kc admin logs "$1" 2>/dev/null) || return 1
	grep -qx "$2" <<<"$out"
}
# ip_in_cidr IP A.B.C.0/24: the pod CIDRs are /24s.
ip_in_cidr() { [[ -n $1 && ${1%.*} == "${2%.*}" ]]; }

# nodes_start N...: starts the nodes side by side; fails when one fails.
nodes_start() {
	local n pids=() rc=0
	hack/cluster/node.sh prepare || return 1
	for n in "$@"; do
		hack/cluster/node.sh start "$n" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do
		wait "$n" || rc=1
	done
	return $rc
}

scenario_nodes() {
	echo "--- nodes"
	local n name pod cidr ip
	kc admin delete node "$NODE1" "$NODE2" --ignore-not-found >/dev/null 2>&1 || true
	if ! nodes_start 1 2; then
		fail "$NODE1 and $NODE2 boot and join (logs: _output/cluster/crisp-node-*.log)"
		return 0
	fi
	pass "$NODE1 and $NODE2 boot side by side, run crisp and kubelet, and have their pod CIDRs"
	for n in 1 2; do
		name=crisp-node-$n
		expect 300 "node $name is Ready" node_ready "$name"
		check "node $name runs crisp (nodeInfo.containerRuntimeVersion)" bash -c \
			"ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf get node $name -o 'jsonpath={.status.nodeInfo.containerRuntimeVersion}' | grep -q '^crisp://'"
		check "node $name runs kubelet $KUBERNETES_VERSION" \
			node_field_is "$name" '{.status.nodeInfo.kubeletVersion}' "$KUBERNETES_VERSION"
		check "node $name's InternalIP is $(node_ip "$n")" \
			node_field_is "$name" '{.status.addresses[?(@.type=="InternalIP")].address}' "$(node_ip "$n")"
		check "kube-apiserver reaches kubelet on $name over TLS (its serving certificate) and kubelet authorizes it" \
			out_is ok kc admin get --raw "/api/v1/nodes/$name/proxy/healthz"
	done

	# A pod on each node, placed by kube-scheduler, run by crisp.
	for n in 1 2; do
		name=crisp-node-$n pod=e2e-hello-$n
		kc admin delete pod "$pod" --ignore-not-found --wait=false >/dev/null 2>&1 || true
		check "pod $pod for $name is created" kc admin create -f <(pod_manifest "$pod" "$name")
	done
	for n in 1 2; do
		name=crisp-node-$n pod=e2e-hello-$n
		expect 240 "pod $pod runs" pod_running "$pod"
		check "kube-scheduler put $pod on $name" out_is "$name" kc admin get pod "$pod" -o 'jsonpath={.spec.nodeName}'
		cidr=$(node_cidr "$name")
		ip=$(kc admin get pod "$pod" -o 'jsonpath={.status.podIP}' 2>/dev/null || true)
		check "pod $pod's address $ip is in $name's pod CIDR $cidr" ip_in_cidr "$ip" "$cidr"
		expect 60 "kubectl logs $pod (API server, kubelet, crisp) has its greeting" logs_have "$pod" "hello from $pod"
		check "kubectl exec $pod (streaming through kubelet to crisp) runs in the pod" \
			out_is "$pod" kc admin exec "$pod" -- cat /etc/hostname
	done
	# Pod to pod across the nodes, and the control plane to pods: routed
	# through the nodes' addresses on the cluster network.
	local ip1 ip2
	ip1=$(kc admin get pod e2e-hello-1 -o 'jsonpath={.status.podIP}' 2>/dev/null || true)
	ip2=$(kc admin get pod e2e-hello-2 -o 'jsonpath={.status.podIP}' 2>/dev/null || true)
	expect 30 "pod e2e-hello-1 on $NODE1 fetches from pod e2e-hello-2 on $NODE2 ($ip2)" \
		out_is e2e-hello-2 kc admin exec e2e-hello-1 -- busybox timeout 10 busybox wget -q -O - "http://$ip2:8080/"
	expect 30 "pod e2e-hello-2 on $NODE2 fetches from pod e2e-hello-1 on $NODE1 ($ip1)" \
		out_is e2e-hello-1 kc admin exec e2e-hello-2 -- busybox timeout 10 busybox wget -q -O - "http://$ip1:8080/"
	check "the control plane's namespace reaches both pods" bash -c \
		"[ \"\$(ip netns exec $CLUSTER_NETNS curl -s -m 5 http://$ip1:8080/)\" = e2e-hello-1 ] &&
		 [ \"\$(ip netns exec $CLUSTER_NETNS curl -s -m 5 http://$ip2:8080/)\" = e2e-hello-2 ]"
	for n in 1 2; do
		kc admin delete pod "e2e-hello-$n" --wait=false >/dev/null 2>&1 || true
	done
	for n in 1 2; do
		expect 120 "pod e2e-hello-$n is deleted" pod_gone "e2e-hello-$n"
	done
	hack/cluster/node.sh stop 1
	hack/cluster/node.sh stop 2
}

# csr_signed: a kubelet client CSR, approved by the admin, is signed by the
# controller manager with the cluster CA, as TLS bootstrapping needs.
csr_signed() {
	local d name=crisp-e2e-csr
	d=$(mktemp -d)
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/key" 2>/dev/null
	openssl req -new -key "$d/key" -subj "/O=system:nodes/CN=system:node:crisp-e2e-csr" -out "$d/csr"
	cat >"$d/csr.yaml" <<EOF
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: $name
spec:
  request: $(base64 -w0 <"$d/csr")
  signerName: kubernetes.io/kube-apiserver-client-kubelet
  usages: [digital signature, client auth]
EOF
	kc admin delete csr "$name" --ignore-not-found >/dev/null 2>&1 || true
	if kc admin create -f "$d/csr.yaml" >/dev/null && kc admin certificate approve "$name" >/dev/null; then
		signed() {
			kc admin get csr "$name" -o 'jsonpath={.status.certificate}' 2>/dev/null | base64 -d >"$d/crt" 2>/dev/null &&
				[ -s "$d/crt" ]
		}
		expect 60 "an approved kubelet CSR is signed" signed
		check "the signed certificate chains to the cluster CA" openssl verify -CAfile "$PKI/ca.crt" "$d/crt"
	else
		fail "create and approve a kubelet CSR"
	fi
	kc admin delete csr "$name" --ignore-not-found >/dev/null 2>&1 || true
	rm -rf "$d"
}

main() {
	local start=$SECONDS s
	local scenarios=("$@")
	[ ${#scenarios[@]} -gt 0 ] || scenarios=("${SCENARIOS[@]}")
	for s in "${scenarios[@]}"; do
		[[ " ${SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario $s (have: ${SCENARIOS[*]})"
	done
	if [ -z "${CLUSTER_E2E_RUNNING:-}" ]; then
		hack/cluster/build.sh
		trap 'hack/cluster/control-plane.sh stop' EXIT
		hack/cluster/control-plane.sh start
	fi
	for s in "${scenarios[@]}"; do
		"scenario_${s//-/_}"
	done
	echo "cluster e2e: $PASSED passed, $FAILED failed ($((SECONDS - start))s)"
	((FAILED == 0))
}

# One line: bash reads a script as it runs it, so a file changed under a
# running test must not feed it more commands once main returns.
main "$@"; exit
