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
#                  each other across the nodes, and the control plane them.
#                  The nodes keep running for the scenarios below (the
#                  control plane's stop stops them); nodes that run already
#                  are not booted again
#   dns            CoreDNS as the cluster's add-on (hack/cluster/addons.sh):
#                  two replicas of the locally built image, Service kube-dns
#                  at 10.96.0.10; pods on both nodes resolve through it
#   services       kube-proxy: a Deployment of 4 replicas spread over both
#                  nodes behind a ClusterIP Service, which a pod on either
#                  node reaches by name, every replica answering
#   streaming      kubectl exec (with and without a tty), attach, logs -f,
#                  port-forward and cp
#   workloads      a rolling update replaces every pod; a Job completes; a
#                  failing liveness probe restarts its container; a deleted
#                  pod's TERM handler runs and it ends within its grace
#                  period
#   drain          kubectl drain moves a node's pods to the other node and
#                  leaves no pod or container of them in its crisp
#   restart        systemctl restart crisp on both nodes during a rollout:
#                  the rollout completes, no other pod is lost or restarted
#   image-gc       kubelet's image garbage collection removes the image no
#                  pod uses through crisp; the pinned images stay
#
#   CLUSTER_E2E_RUNNING=1  run against the control plane that runs now
#                          (hack/cluster/control-plane.sh start): no build,
#                          no start, no stop
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh
require_root

SCENARIOS=(control-plane nodes dns services streaming workloads drain restart image-gc)
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
# logs_have POD LINE [ARG...]: kubectl logs POD [ARG...] has LINE.
logs_have() {
	local out
	out=$(kc admin logs "$1" "${@:3}" 2>/dev/null) || return 1
	grep -qx "$2" <<<"$out"
}
# ip_in_cidr IP A.B.C.0/24: the pod CIDRs are /24s.
ip_in_cidr() { [[ -n $1 && ${1%.*} == "${2%.*}" ]]; }

# node_up N: node N's guest runs.
node_up() {
	local pid
	pid=$(cat "$CLUSTER_WORK/pids/crisp-node-$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# nodes_start N...: starts the nodes that do not run yet side by side; fails
# when one fails.
nodes_start() {
	local n pids=() rc=0
	hack/cluster/node.sh prepare || return 1
	for n in "$@"; do
		node_up "$n" && continue
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
}

# --- the scenarios on the running nodes --------------------------------------

BUSYBOX=crisp.test/busybox:e2e
# The image no pod uses, which kubelet's image GC removes (node.sh prepare).
UNUSED_IMAGE=crisp.test/unused:e2e

# nodes_ready: both nodes are Ready; a scenario on the nodes fails at once
# without them.
nodes_ready() {
	if node_ready "$NODE1" && node_ready "$NODE2"; then
		return 0
	fi
	fail "$NODE1 and $NODE2 are Ready (run the nodes scenario first)"
	return 1
}

# node_run N SCRIPT: runs SCRIPT (bash) as root in node N's guest, through
# the request files test/e2e/cluster/node.sh watches, and prints its output;
# returns its status, or 1 when the node does not answer within 330 s (the
# guest gives a request 300 s).
node_run() {
	local state=$CLUSTER_WORK/nodes/crisp-node-$1 i rc
	rm -f "$state/rc" "$state/out"
	printf '%s\n' "$2" >"$state/req.sh.new"
	mv "$state/req.sh.new" "$state/req.sh"
	for ((i = 0; i < 330; i++)); do
		if [ -e "$state/rc" ]; then
			cat "$state/out"
			rc=$(cat "$state/rc")
			rm -f "$state/rc" "$state/out"
			return "$rc"
		fi
		sleep 1
	done
	rm -f "$state/req.sh"
	echo "     crisp-node-$1 did not answer: $2" >&2
	return 1
}

# apply MANIFEST: kubectl apply of MANIFEST (stdin).
apply() { kc admin apply -f - >/dev/null; }

# client_pod NAME NODE: a busybox pod on NODE that sleeps, with tar for
# kubectl cp (busybox's, linked into PATH).
client_pod() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  labels:
    app: e2e-client
spec:
  nodeSelector:
    kubernetes.io/hostname: $2
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: Never
    command: ["sh", "-c", "busybox ln -sf busybox /bin/tar; exec sleep 100000"]
EOF
}

# clients_run: pods e2e-client-1 and -2, one on each node, run.
clients_run() {
	local n
	for n in 1 2; do
		pod_running "e2e-client-$n" || client_pod "e2e-client-$n" "crisp-node-$n" | apply || return 1
	done
	for n in 1 2; do
		wait_for 240 pod_running "e2e-client-$n" || return 1
	done
}

# lookup POD NAME: NAME's address as POD resolves it (busybox nslookup).
lookup() {
	kc admin exec "$1" -- busybox nslookup "$2" 2>/dev/null |
		awk '/^Name:/ { found = 1; next } found && /^Address/ { print $NF; exit }'
}

scenario_dns() {
	echo "--- dns"
	nodes_ready || return 0
	check "CoreDNS (crisp.test/coredns:e2e, built here) is deployed and its 2 replicas are available" \
		hack/cluster/addons.sh apply
	check "CoreDNS's replicas run on both nodes" out_is "$NODE1 $NODE2" bash -c \
		"ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf -n kube-system get pods -l k8s-app=kube-dns -o 'jsonpath={.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | xargs"
	check "Service kube-dns is at $DNS_SERVICE_IP" out_is "$DNS_SERVICE_IP" \
		kc admin -n kube-system get service kube-dns -o 'jsonpath={.spec.clusterIP}'
	check "pods e2e-client-1 and -2 run, one on each node" clients_run
	local n
	for n in 1 2; do
		check "a pod on crisp-node-$n has nameserver $DNS_SERVICE_IP and the cluster's search path" bash -c \
			"ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf exec e2e-client-$n -- cat /etc/resolv.conf |
			 grep -q '^nameserver $DNS_SERVICE_IP' &&
			 ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf exec e2e-client-$n -- cat /etc/resolv.conf |
			 grep -q '^search default.svc.$CLUSTER_DOMAIN svc.$CLUSTER_DOMAIN $CLUSTER_DOMAIN'"
		expect 60 "a pod on crisp-node-$n resolves kubernetes.default.svc.$CLUSTER_DOMAIN to $KUBERNETES_SERVICE_IP through CoreDNS" \
			out_is "$KUBERNETES_SERVICE_IP" lookup "e2e-client-$n" "kubernetes.default.svc.$CLUSTER_DOMAIN"
		expect 30 "a pod on crisp-node-$n resolves kube-dns.kube-system.svc.$CLUSTER_DOMAIN to $DNS_SERVICE_IP" \
			out_is "$DNS_SERVICE_IP" lookup "e2e-client-$n" "kube-dns.kube-system.svc.$CLUSTER_DOMAIN"
	done
}

web_manifest() {
	cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 2
      # Two on each node; a cordoned node is no domain (nodeTaintsPolicy),
      # so that a drain can move them.
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        nodeTaintsPolicy: Honor
        labelSelector:
          matchLabels:
            app: web
      containers:
      - name: web
        image: $BUSYBOX
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www; cat /etc/hostname >/www/index.html; exec busybox httpd -f -p 8080 -h /www"]
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /
            port: 8080
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 8080
    targetPort: 8080
EOF
}

# pods_of SELECTOR: the names of the Running pods SELECTOR matches,
# sorted, one line.
pods_of() {
	kc admin get pods -l "$1" --field-selector status.phase=Running -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}' |
		sort | xargs
}
# nodes_of SELECTOR: the nodes SELECTOR's pods are on, sorted, unique.
nodes_of() {
	kc admin get pods -l "$1" -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | xargs
}
# deployment_done DEPLOYMENT [SECONDS]: its rollout is complete within
# SECONDS (default 240).
deployment_done() {
	kc admin rollout status "deployment/$1" --timeout "${2:-240}s" >/dev/null
}

# fetch_all CLIENT URL POD...: CLIENT fetches URL 40 times; every POD (a
# hostname the server answers with) must have answered. (busybox wget -T
# crashes in Debian's static busybox: busybox timeout bounds it.)
fetch_all() {
	local client=$1 url=$2 out p
	shift 2
	out=$(kc admin exec "$client" -- sh -c \
		"i=0; while [ \$i -lt 40 ]; do busybox timeout 5 busybox wget -q -O - $url; i=\$((i + 1)); done" 2>/dev/null) || true
	for p in "$@"; do
		grep -qx "$p" <<<"$out" || { echo "     $p did not answer $client: $(sort <<<"$out" | uniq -c | xargs)" >&2; return 1; }
	done
}

scenario_services() {
	echo "--- services"
	nodes_ready || return 0
	clients_run || { fail "pods e2e-client-1 and -2 run"; return 0; }
	check "Deployment web (4 replicas) and its ClusterIP Service are created" apply < <(web_manifest)
	check "Deployment web's 4 replicas are available" deployment_done web 240
	check "web's replicas are spread over both nodes" out_is "$NODE1 $NODE2" nodes_of app=web
	local pods ip n
	pods=$(pods_of app=web)
	check "web has 4 pods running" bash -c "[ $(wc -w <<<"$pods") -eq 4 ]"
	ip=$(kc admin get service web -o 'jsonpath={.spec.clusterIP}' 2>/dev/null || true)
	check "Service web has a ClusterIP in $SERVICE_CIDR ($ip)" bash -c "[[ '$ip' == 10.96.* ]]"
	for n in 1 2; do
		# shellcheck disable=SC2086 # one argument per pod
		expect 60 "a pod on crisp-node-$n reaches every replica of web at its ClusterIP $ip (kube-proxy)" \
			fetch_all "e2e-client-$n" "http://$ip:8080/" $pods
		# shellcheck disable=SC2086
		expect 60 "a pod on crisp-node-$n reaches every replica at web.default.svc.$CLUSTER_DOMAIN:8080 (CoreDNS, kube-proxy)" \
			fetch_all "e2e-client-$n" "http://web.default.svc.$CLUSTER_DOMAIN:8080/" $pods
	done
	# shellcheck disable=SC2086
	expect 30 "a pod reaches web by its short name (the search path): http://web:8080/" \
		fetch_all e2e-client-1 http://web:8080/ $pods
	for n in 1 2; do
		check "a pod on crisp-node-$n connects to the API server's Service $KUBERNETES_SERVICE_IP:443" \
			kc admin exec "e2e-client-$n" -- busybox timeout 10 busybox nc "$KUBERNETES_SERVICE_IP" 443
	done
}

stream_manifest() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-stream
spec:
  nodeSelector:
    kubernetes.io/hostname: $NODE2
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: Never
    command: ["sh", "-c", "busybox ln -sf busybox /bin/tar; mkdir -p /www; echo e2e-stream >/www/index.html; busybox httpd -p 8080 -h /www; i=0; while true; do echo tick \$i; i=\$((i + 1)); sleep 1; done"]
  - name: echo
    image: $BUSYBOX
    imagePullPolicy: Never
    stdin: true
    command: ["sh", "-c", "while read -r l; do echo \"got \$l\"; done"]
EOF
}

# ticks_follow: kubectl logs -f streams lines as they are written: with
# --tail=1 and 5 s of following, at least 3 lines, consecutive ticks.
ticks_follow() {
	local out first last n
	out=$(timeout 5 ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/kubectl" --kubeconfig "$PKI/admin.conf" \
		logs -f --tail=1 e2e-stream -c main 2>/dev/null) || true
	n=$(grep -c '^tick ' <<<"$out") || true
	first=$(head -1 <<<"$out") last=$(tail -1 <<<"$out")
	if ((n < 3)) || ((${last#tick } - ${first#tick } != n - 1)); then
		echo "     logs -f: $(xargs <<<"$out")" >&2
		return 1
	fi
}

# attach_echo: kubectl attach -i sends a line to the echo container's
# stdin and shows its answer.
attach_echo() {
	local out
	out=$( (echo "hello-attach"; sleep 4) | timeout 10 ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/kubectl" \
		--kubeconfig "$PKI/admin.conf" attach -i e2e-stream -c echo 2>/dev/null) || true
	grep -qx "got hello-attach" <<<"$out" || { echo "     attach: '$out'" >&2; return 1; }
}

# exec_tty: kubectl exec -it in a terminal (script(1)) of 41 rows and 101
# columns gets a tty in the container (tty(1) names it) of that size (the
# resize kubectl sends through kubelet to crisp). script's stdin stays open
# while the command runs: at its end script would write the end of input to
# the terminal, which kubectl passes on and which ends the session.
exec_tty() {
	local out
	out=$(sleep 8 | ip netns exec "$CLUSTER_NETNS" timeout 20 script -qec \
		"stty rows 41 cols 101; $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf exec -it e2e-stream -c main -- sh -c 'busybox tty; busybox stty size'" \
		/dev/null 2>&1) || true
	grep -aq '^/dev/pts/[0-9]' <<<"$out" && grep -aq '^41 101' <<<"$out" ||
		{ echo "     exec -it: '$(cat -v <<<"$out")'" >&2; return 1; }
}

# port_forward: kubectl port-forward from the control plane's namespace to
# the pod's port 8080, fetched with curl; the forwarder is stopped after.
port_forward() {
	local pid out="" i
	timeout 60 ip netns exec "$CLUSTER_NETNS" "$CLUSTER_BIN/kubectl" --kubeconfig "$PKI/admin.conf" \
		port-forward pod/e2e-stream 18080:8080 >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 20; i++)); do
		out=$(in_ns curl -s -m 3 http://127.0.0.1:18080/ 2>/dev/null) && [ "$out" = e2e-stream ] && break
		sleep 1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[ "$out" = e2e-stream ] || { echo "     port-forward: '$out'" >&2; return 1; }
}

# copy_round_trip: kubectl cp of a file into the pod and back (tar in the
# container, through exec).
copy_round_trip() {
	local d rc=0
	d=$(mktemp -d)
	head -c 100000 /dev/urandom >"$d/in"
	kc admin cp "$d/in" e2e-stream:/tmp/cp-in -c main >/dev/null 2>&1 &&
		kc admin cp e2e-stream:/tmp/cp-in "$d/out" -c main >/dev/null 2>&1 &&
		cmp -s "$d/in" "$d/out" || rc=1
	rm -rf "$d"
	return $rc
}

scenario_streaming() {
	echo "--- streaming"
	nodes_ready || return 0
	kc admin delete pod e2e-stream --ignore-not-found >/dev/null 2>&1 || true
	check "pod e2e-stream (two containers, one with stdin) is created on $NODE2" apply < <(stream_manifest)
	expect 240 "pod e2e-stream runs" pod_running e2e-stream
	check "kubectl exec without a tty runs a command, stdin fed from a pipe" \
		out_is CRISP bash -c "echo crisp | ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf exec -i e2e-stream -c main -- busybox tr a-z A-Z"
	check "kubectl exec's exit status is the command's" \
		out_is 7 bash -c "ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf exec e2e-stream -c main -- sh -c 'exit 7' 2>/dev/null; echo \$?"
	check "kubectl exec -it gets a terminal in the container, of the client terminal's size" exec_tty
	check "kubectl attach -i writes to a container's stdin and reads its output" attach_echo
	check "the attached container's answer is in its log" logs_have e2e-stream "got hello-attach" -c echo
	expect 30 "kubectl logs -f follows a container's output as it is written" ticks_follow
	check "kubectl port-forward reaches the pod's port 8080 from the control plane's namespace" port_forward
	check "kubectl cp copies a file into the pod and back, unchanged" copy_round_trip
	kc admin delete pod e2e-stream --wait=false >/dev/null 2>&1 || true
}

roll_manifest() {
	cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: roll
  template:
    metadata:
      labels:
        app: roll
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: $BUSYBOX
        imagePullPolicy: Never
        command: ["sh", "-c", "echo version \$V; exec sleep 100000"]
        env:
        - name: V
          value: "1"
EOF
}

job_manifest() {
	cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: e2e-job
spec:
  completions: 2
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: $BUSYBOX
        imagePullPolicy: Never
        command: ["sh", "-c", "echo job done"]
EOF
}

liveness_manifest() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-liveness
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: Never
    command: ["sh", "-c", "touch /tmp/healthy; sleep 6; rm /tmp/healthy; exec sleep 100000"]
    livenessProbe:
      exec:
        command: ["busybox", "test", "-e", "/tmp/healthy"]
      initialDelaySeconds: 2
      periodSeconds: 2
      failureThreshold: 2
EOF
}

# The TERM handler writes to a host directory of the node, which the check
# reads there after the pod is gone.
TERM_DIR=/var/tmp/crisp-e2e-term
term_manifest() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: e2e-term
spec:
  nodeSelector:
    kubernetes.io/hostname: $NODE1
  terminationGracePeriodSeconds: 60
  volumes:
  - name: out
    hostPath:
      path: $TERM_DIR
      type: DirectoryOrCreate
  containers:
  - name: main
    image: $BUSYBOX
    imagePullPolicy: Never
    volumeMounts:
    - name: out
      mountPath: /out
    command: ["sh", "-c", "trap 'echo TERM >/out/term; exit 0' TERM; echo ready; while true; do sleep 1 & wait \$!; done"]
EOF
}

# env_of SELECTOR: the value of V in every pod SELECTOR matches, sorted,
# unique.
env_of() {
	kc admin get pods -l "$1" -o 'jsonpath={range .items[*]}{.spec.containers[0].env[0].value}{"\n"}{end}' | sort -u | xargs
}
restarts_of() { kc admin get pod "$1" -o 'jsonpath={.status.containerStatuses[0].restartCount}' 2>/dev/null; }
restarted() {
	local n
	n=$(restarts_of "$1")
	((${n:-0} > 0))
}
# all_gone POD...: none of the pods exists any more.
all_gone() {
	local p
	for p in "$@"; do
		pod_gone "$p" || return 1
	done
}
# disjoint "A..." "B...": no word is in both lists.
disjoint() { ! comm -12 <(tr ' ' '\n' <<<"$1" | sort) <(tr ' ' '\n' <<<"$2" | sort) | grep -q .; }

# delete_within POD SECONDS: kubectl delete POD returns within SECONDS.
delete_within() {
	local t0=$SECONDS
	kc admin delete pod "$1" --timeout 90s >/dev/null || return 1
	echo "     $1 deleted in $((SECONDS - t0))s" >&2
	((SECONDS - t0 < $2))
}

scenario_workloads() {
	echo "--- workloads"
	nodes_ready || return 0
	local old new
	# A rolling update: a new ReplicaSet replaces every pod.
	kc admin delete deployment roll --ignore-not-found >/dev/null 2>&1 || true
	check "Deployment roll (3 replicas) is created" apply < <(roll_manifest)
	check "Deployment roll is available" deployment_done roll 240
	old=$(pods_of app=roll)
	check "kubectl set env starts a rolling update" kc admin set env deployment/roll V=2
	check "the rolling update completes" deployment_done roll 300
	# shellcheck disable=SC2086 # one argument per pod
	expect 120 "the old pods are gone" all_gone $old
	new=$(pods_of app=roll)
	check "every pod was replaced (before: $old; after: $new)" disjoint "$old" "$new"
	check "3 new pods run" bash -c "[ $(wc -w <<<"$new") -eq 3 ]"
	check "every pod runs the new template (V=2)" out_is 2 env_of app=roll
	expect 30 "a new pod's log shows the new environment" logs_have "$(cut -d' ' -f1 <<<"$new")" "version 2"

	# A Job of two completions.
	kc admin delete job e2e-job --ignore-not-found >/dev/null 2>&1 || true
	check "Job e2e-job is created" apply < <(job_manifest)
	check "Job e2e-job completes (2 of 2)" kc admin wait --for=condition=complete job/e2e-job --timeout 180s
	check "its pods succeeded and logged" logs_have job/e2e-job "job done"
	kc admin delete job e2e-job --wait=false >/dev/null 2>&1 || true

	# A failing liveness probe restarts the container.
	kc admin delete pod e2e-liveness --ignore-not-found >/dev/null 2>&1 || true
	check "pod e2e-liveness is created" apply < <(liveness_manifest)
	expect 240 "its failing liveness probe restarts its container (restartCount > 0)" restarted e2e-liveness
	kc admin delete pod e2e-liveness --wait=false >/dev/null 2>&1 || true

	# A pod that traps TERM ends when the handler exits, well within its
	# grace period (60 s), and the handler ran.
	kc admin delete pod e2e-term --ignore-not-found >/dev/null 2>&1 || true
	node_run 1 "rm -rf $TERM_DIR" >/dev/null || true
	check "pod e2e-term (traps TERM, grace period 60 s) is created" apply < <(term_manifest)
	expect 240 "pod e2e-term runs" pod_running e2e-term
	expect 30 "it has set its trap" logs_have e2e-term ready
	check "kubectl delete pod e2e-term returns within 40 s (TERM handled, no KILL at 60 s)" delete_within e2e-term 40
	check "its TERM handler ran (it wrote $TERM_DIR/term on $NODE1)" out_is TERM node_run 1 "cat $TERM_DIR/term"
	node_run 1 "rm -rf $TERM_DIR" >/dev/null || true
}

# crisp_has_none NODE_N NAMESPACE: node N's crisp has no pod sandbox and
# no container of NAMESPACE left, whatever their state.
crisp_has_none() {
	local out
	out=$(node_run "$1" "crictl pods -q --namespace $2; crictl ps -a -q --label io.kubernetes.pod.namespace=$2") || return 1
	[ -z "$out" ] || { echo "     crisp-node-$1 still has: $(xargs <<<"$out")" >&2; return 1; }
}
# crisp_has_pods NODE_N NAMESPACE: node N's crisp runs a pod of NAMESPACE.
crisp_has_pods() {
	local out
	out=$(node_run "$1" "crictl pods -q --state ready --namespace $2") && [ -n "$out" ]
}

scenario_drain() {
	echo "--- drain"
	nodes_ready || return 0
	local moved
	deployment_done web 10 || { fail "Deployment web is available (the services scenario makes it)"; return 0; }
	moved=$(kc admin get pods -l app=web --field-selector "spec.nodeName=$NODE2" -o name | xargs)
	check "crisp on $NODE2 runs pods of namespace default before the drain (web: $moved)" crisp_has_pods 2 default
	check "kubectl drain $NODE2 evicts its pods" kc admin drain "$NODE2" --ignore-daemonsets --delete-emptydir-data \
		--force --grace-period 5 --timeout 240s
	check "$NODE2 is cordoned" out_is true kc admin get node "$NODE2" -o 'jsonpath={.spec.unschedulable}'
	check "Deployment web is available again" deployment_done web 240
	check "all of web's replicas now run on $NODE1" out_is "$NODE1" nodes_of app=web
	check "web's pods on $NODE2 are gone ($moved)" bash -c \
		"! ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf get $moved -o name 2>/dev/null | grep -q ."
	expect 240 "crisp on $NODE2 has no pod sandbox and no container of namespace default left (crictl in the guest)" \
		crisp_has_none 2 default
	expect 240 "nor of kube-system's CoreDNS" crisp_has_none 2 kube-system
	check "kubectl uncordon $NODE2" kc admin uncordon "$NODE2"
	check "$NODE2 is schedulable again" out_is "" kc admin get node "$NODE2" -o 'jsonpath={.spec.unschedulable}'
}

# restart_state SELECTOR: "POD=RESTARTS ..." of SELECTOR's pods.
restart_state() {
	kc admin get pods -A -l "$1" -o 'jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount}{"\n"}{end}' |
		sort | xargs
}

scenario_restart() {
	echo "--- restart"
	nodes_ready || return 0
	local before after old v=restart-$$
	deployment_done roll 10 || { fail "Deployment roll is available (the workloads scenario makes it)"; return 0; }
	deployment_done web 10 || { fail "Deployment web is available (the services scenario makes it)"; return 0; }
	before=$(restart_state 'app in (web,e2e-client)')
	old=$(pods_of app=roll)
	check "kubectl set env starts a rollout of roll (V=$v)" kc admin set env deployment/roll "V=$v"
	check "systemctl restart crisp on $NODE1 during the rollout" node_run 1 "systemctl restart crisp && crictl version >/dev/null"
	check "systemctl restart crisp on $NODE2 during the rollout" node_run 2 "systemctl restart crisp && crictl version >/dev/null"
	check "the rollout completes" deployment_done roll 300
	# shellcheck disable=SC2086 # one argument per pod
	expect 120 "the old pods are gone" all_gone $old
	check "roll's 3 replicas run the new template" out_is "$v" env_of app=roll
	check "roll has 3 running pods" bash -c "[ \$(ip netns exec $CLUSTER_NETNS $CLUSTER_BIN/kubectl --kubeconfig $PKI/admin.conf get pods -l app=roll --field-selector status.phase=Running -o name | wc -l) -eq 3 ]"
	after=$(restart_state 'app in (web,e2e-client)')
	check "no other pod was lost or restarted (same pods, same restart counts)" out_is "$before" echo "$after"
	check "Deployment web is still available" deployment_done web 60
	expect 60 "$NODE1 is Ready" node_ready "$NODE1"
	expect 60 "$NODE2 is Ready" node_ready "$NODE2"
}

# unused_image_id: the ID (config digest) of the image no pod uses, from its
# archive.
unused_image_id() {
	tar -xOf "$CLUSTER_WORK/node/unused.tar" manifest.json | sed -n 's/.*"Config":"\(sha256:\)\{0,1\}\([0-9a-f]\{64\}\).*/\2/p'
}
image_gone() { [ -z "$(node_run "$1" "crictl images -q $UNUSED_IMAGE")" ]; }

scenario_image_gc() {
	echo "--- image-gc"
	nodes_ready || return 0
	local id n
	id=$(unused_image_id)
	for n in 1 2; do
		# kubelet's image GC runs every 5 minutes, the first time when
		# kubelet starts (too early: the image is too young then).
		expect 420 "kubelet's image GC removes $UNUSED_IMAGE from crisp-node-$n (crictl images)" image_gone "$n"
		check "kubelet on crisp-node-$n removed it to free space (${id:0:12})" \
			node_run "$n" "journalctl -u crisp-kubelet --no-pager | grep 'Removing image to free bytes' | grep -q $id"
		check "crisp on crisp-node-$n removed it (RemoveImage: \"Removed image\" in its log)" \
			node_run "$n" "journalctl -u crisp --no-pager | grep 'Removed image' | grep -q $id"
		check "the pinned images stay on crisp-node-$n" \
			node_run "$n" "crictl images -q $BUSYBOX | grep -q . && crictl images -q crisp.test/coredns:e2e | grep -q ."
	done
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
