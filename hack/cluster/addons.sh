#!/usr/bin/env bash
# The test cluster's add-ons, deployed as kubeadm deploys them: CoreDNS
# (ServiceAccount, ClusterRole and ClusterRoleBinding system:coredns,
# ConfigMap coredns with the Corefile, Deployment coredns of 2 replicas,
# Service kube-dns at DNS_SERVICE_IP, the address kubelet gives pods as
# their nameserver). The image is crisp.test/coredns:e2e, which every node
# loads (hack/cluster/node.sh prepare builds it from the cached CoreDNS
# binary): pods run it with imagePullPolicy Never. See docs/cluster.md.
#
# usage: hack/cluster/addons.sh apply|delete|manifest
#   apply     applies the manifests and waits up to ADDONS_TIMEOUT seconds
#             (default 300) for the Deployment's replicas to be available
#   delete    deletes them
#   manifest  prints them
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. hack/cluster/lib.sh

COREDNS_IMAGE=crisp.test/coredns:e2e
TIMEOUT=${ADDONS_TIMEOUT:-300}

# The Corefile is kubeadm's without "forward . /etc/resolv.conf" and
# "loop": nothing outside the cluster is reachable, so CoreDNS answers for
# the cluster's zones only.
manifest() {
	cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        health {
           lameduck 5s
        }
        ready
        kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
           ttl 30
        }
        prometheus :9153
        cache 30
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  replicas: 2
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              labelSelector:
                matchExpressions:
                - key: k8s-app
                  operator: In
                  values: [kube-dns]
              topologyKey: kubernetes.io/hostname
      nodeSelector:
        kubernetes.io/os: linux
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        resources:
          limits:
            memory: 170Mi
          requests:
            cpu: 100m
            memory: 70Mi
        volumeMounts:
        - name: config-volume
          mountPath: /etc/coredns
          readOnly: true
        ports:
        - containerPort: 53
          name: dns
          protocol: UDP
        - containerPort: 53
          name: dns-tcp
          protocol: TCP
        - containerPort: 9153
          name: metrics
          protocol: TCP
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            add: [NET_BIND_SERVICE]
            drop: [ALL]
          readOnlyRootFilesystem: true
        livenessProbe:
          httpGet:
            path: /health
            port: 8080
            scheme: HTTP
          initialDelaySeconds: 60
          timeoutSeconds: 5
          successThreshold: 1
          failureThreshold: 5
        readinessProbe:
          httpGet:
            path: /ready
            port: 8181
            scheme: HTTP
      dnsPolicy: Default
      volumes:
      - name: config-volume
        configMap:
          name: coredns
          items:
          - key: Corefile
            path: Corefile
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
    kubernetes.io/cluster-service: "true"
    kubernetes.io/name: CoreDNS
spec:
  selector:
    k8s-app: kube-dns
  clusterIP: $DNS_SERVICE_IP
  ports:
  - name: dns
    port: 53
    protocol: UDP
  - name: dns-tcp
    port: 53
    protocol: TCP
  - name: metrics
    port: 9153
    protocol: TCP
EOF
}

main() {
	case ${1:-} in
	apply)
		require_root
		manifest | hack/cluster/kubectl.sh apply -f - >/dev/null
		hack/cluster/kubectl.sh -n kube-system rollout status deployment/coredns --timeout "${TIMEOUT}s" >/dev/null ||
			die "CoreDNS not available within ${TIMEOUT}s: $(hack/cluster/kubectl.sh -n kube-system get pods -l k8s-app=kube-dns -o wide 2>&1)"
		log "CoreDNS runs: $DNS_SERVICE_IP"
		;;
	delete)
		require_root
		manifest | hack/cluster/kubectl.sh delete --ignore-not-found -f - >/dev/null
		;;
	manifest) manifest ;;
	*) die "usage: $0 apply|delete|manifest" ;;
	esac
}

# One line: bash reads a script as it runs it, so a file changed under a
# running script must not feed it more commands once main returns.
main "$@"; exit
