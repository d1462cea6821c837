#!/bin/bash
# kubelet drives crisp: the guest side of the kubelet end-to-end test. Runs as
# root in the project's qemu guest (systemd, pure cgroup v2), started by
# hack/kubelet-e2e.sh, which shares WORK into the guest with:
#   WORK/crisp        the crisp binary under test
#   WORK/busybox.tar  the busybox image (docker-archive) the pods run
#   WORK/checkpoint-api  a client of kubelet's checkpoint API
# and puts kubelet, crictl and checkpointctl first in PATH. crisp runs as the systemd service
# of deploy/systemd/crisp.service with the systemd cgroup driver; kubelet
# runs standalone (no API server) from a transient unit, with static pods
# from manifests/. Every check prints "ok   ..." or "FAIL ..."; the logs of
# both daemons are left in WORK/logs.
#
# usage: run.sh WORK
#
# Checks that need locals evaluate them late, with eval '...', and most
# functions run only through check and expect.
# shellcheck disable=SC2016,SC2317
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
WORK=${1:?usage: run.sh WORK}
LOGS=$WORK/logs
MANIFESTS=/etc/kubernetes/manifests
KUBELET_UNIT=crisp-e2e-kubelet
# The node name, and so the suffix kubelet gives static pod names.
NODE=crisp-e2e
CG=/sys/fs/cgroup
IMAGE=crisp.test/busybox:e2e
# kubelet's read-only port: pod status, probe metrics and the stats
# summary over plain HTTP.
KUBELET_RO=http://127.0.0.1:10255

export CONTAINER_RUNTIME_ENDPOINT=unix:///run/crisp/crisp.sock
export IMAGE_SERVICE_ENDPOINT=$CONTAINER_RUNTIME_ENDPOINT

. "$REPO/test/e2e/checks.sh"
. "$REPO/test/e2e/crisp-service.sh"
# expect SECONDS DESC CMD...: pass once CMD succeeds, fail after SECONDS
# with how long it was given.
expect() {
	local secs=$1 desc=$2
	shift 2
	if wait_for "$secs" "$@"; then pass "$desc"; else fail "$desc (not within ${secs}s)"; fi
}
die() {
	echo "FAIL $*"
	exit 1
}

# --- CRI queries (crictl over crisp's socket) --------------------------------

# pod_id NAME prints the id of the ready sandbox of static pod NAME.
pod_id() { crictl pods --name "^$1-$NODE\$" --state ready -q 2>/dev/null | awk 'NR == 1'; }
# ctr_id POD CONTAINER [STATE] prints the newest container CONTAINER of static
# pod POD (any state unless STATE: running, exited...).
ctr_id() {
	local state=()
	[[ -n ${3:-} ]] && state=(--state "$3")
	crictl ps -a "${state[@]}" --label "io.kubernetes.pod.name=$1-$NODE" --name "^$2\$" -q --latest 2>/dev/null
}
inspect() { crictl inspect -o go-template --template "$2" "$1" 2>/dev/null; }
inspectp() { crictl inspectp -o go-template --template "$2" "$1" 2>/dev/null; }
running() { [[ -n $(ctr_id "$1" "$2" running) ]]; }
# attempt POD CONTAINER prints the restart attempt of the newest container.
attempt() {
	local id
	id=$(ctr_id "$1" "$2")
	[[ -n $id ]] && inspect "$id" '{{.status.metadata.attempt}}'
}
attempt_at_least() { [[ $(attempt "$1" "$2") -ge $3 ]]; }
ctr_log_has() {
	local id
	id=$(ctr_id "$1" "$2") && [[ -n $id ]] && [[ $(crictl logs "$id" 2>&1) == *"$3"* ]]
}
# pod_gone NAME: no sandbox and no container of static pod NAME is left.
pod_gone() {
	[[ -z $(crictl pods --name "^$1-$NODE\$" -q 2>/dev/null) ]] &&
		[[ -z $(crictl ps -a --label "io.kubernetes.pod.name=$1-$NODE" -q 2>/dev/null) ]]
}
# pod_cgroups UID lists the cgroups under kubepods.slice of the pod with UID.
pod_cgroups() { find "$CG/kubepods.slice" -type d -name "*pod${1//-/_}*" 2>/dev/null; }
no_pod_cgroups() { [[ -z $(pod_cgroups "$1") ]]; }
# ctr_cgroup ID prints the cgroup of container ID (crisp's crisp-ID.scope).
ctr_cgroup() { find "$CG/kubepods.slice" -type d -name "crisp-$1.scope" 2>/dev/null | awk 'NR == 1'; }
# probe_count POD CONTAINER TYPE RESULT: kubelet's prober_probe_total.
probe_count() {
	busybox wget -q -O - "$KUBELET_RO/metrics/probes" 2>/dev/null |
		awk -v pod="$1-$NODE" -v c="$2" -v t="$3" -v r="$4" '
			/^prober_probe_total\{/ && index($0, "pod=\"" pod "\"") && index($0, "container=\"" c "\"") &&
			index($0, "probe_type=\"" t "\"") && index($0, "result=\"" r "\"") { n += $NF }
			END { printf "%d\n", n }'
}
probes_at_least() { [[ $(probe_count "$1" "$2" "$3" "$4") -ge $5 ]]; }
# kubelet_says_ready POD: kubelet's own pod status has condition Ready True.
kubelet_says_ready() {
	local pods
	pods=$(busybox wget -q -O - "$KUBELET_RO/pods" 2>/dev/null | tr -d ' \n')
	# One item per pod: cut the list where each pod's metadata begins.
	awk -v name="$1-$NODE" -v ready='{"type":"Ready","status":"True"' '
		{ n = split($0, items, "{\"metadata\":{\"name\":\"") }
		END {
			for (i = 2; i <= n; i++)
				if (index(items[i], name "\"") == 1 && index(items[i], ready)) exit 0
			exit 1
		}' <<<"$pods"
}
# summary_has_usage POD CONTAINER: kubelet's /stats/summary, which it builds
# from CRI ListContainerStats, gives CONTAINER of POD non-zero CPU and memory
# usage.
summary_has_usage() {
	local summary
	summary=$(busybox wget -q -O - "$KUBELET_RO/stats/summary" 2>/dev/null | tr -d ' \n')
	# One item per pod, one per container within it.
	awk -v pod="$1-$NODE" -v c="$2" '
		{ n = split($0, pods, "\"podRef\":{\"name\":\"") }
		END {
			for (i = 2; i <= n; i++) {
				if (index(pods[i], pod "\"") != 1) continue
				m = split(pods[i], ctrs, "{\"name\":\"")
				for (j = 2; j <= m; j++)
					if (index(ctrs[j], c "\"") == 1 &&
						ctrs[j] ~ /"usageCoreNanoSeconds":[1-9]/ && ctrs[j] ~ /"workingSetBytes":[1-9]/) exit 0
			}
			exit 1
		}' <<<"$summary"
}
# cadvisor_series METRIC LABEL...: kubelet's /metrics/cadvisor has a
# METRIC series carrying every LABEL (name="value"). Under the
# PodAndContainerStatsFromCRI gate kubelet builds that page from crisp's
# ListPodSandboxMetrics alone.
cadvisor_series() {
	local metric=$1 line l
	shift
	while IFS= read -r line; do
		for l in "$@"; do [[ $line == *"$l"* ]] || continue 2; done
		return 0
	done < <(busybox wget -q -O - "$KUBELET_RO/metrics/cadvisor" 2>/dev/null | grep "^$metric{")
	return 1
}
# sees_httpd ID: ps in container ID lists the pod's httpd.
sees_httpd() { [[ $(crictl exec -s "$1" ps 2>&1) == *"busybox httpd"* ]]; }
# alive PID: the process exists and is not a zombie.
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status"; }
crisp_up() { crictl version >/dev/null 2>&1; }
pods_ready() {
	local p
	for p in "$@"; do [[ -n $(pod_id "$p") ]] || return 1; done
}

# --- setup ---------------------------------------------------------------------

wait_systemd() {
	local state
	state=$(timeout 300 systemctl is-system-running --wait 2>/dev/null || true)
	case $state in
	running | degraded) ;;
	*) die "systemd did not finish booting: '$state'" ;;
	esac
	[[ $state == degraded ]] && systemctl --failed --no-legend --plain | sed 's/^/     failed unit: /'
	return 0
}

install_crisp() {
	# The pod network: crisp's default bridge, and nothing else.
	install_crisp_service "$WORK/crisp" "$REPO/deploy/cni/10-crisp-bridge.conflist"
	check "crisp runs as a systemd service and answers CRI" crisp_up
	systemd_driver() { [[ $(crictl info 2>/dev/null) == *'"cgroupDriver": "systemd"'* ]]; }
	check "crisp reports the systemd cgroup driver (crictl info)" systemd_driver
	crisp images load "$WORK/busybox.tar" >"$LOGS/images-load.log" 2>&1 ||
		die "crisp images load $WORK/busybox.tar failed: $(tail -3 "$LOGS/images-load.log")"
	check "crisp images load: crictl inspecti finds $IMAGE" eval 'crictl inspecti "$IMAGE" >/dev/null 2>&1'
}

start_kubelet() {
	install -d /etc/crisp-e2e /var/lib/kubelet "$MANIFESTS"
	# Pods without a cluster DNS inherit this file's servers (kubelet's
	# resolvConf); TEST-NET-1, never contacted.
	printf 'nameserver 192.0.2.53\nsearch crisp.test\n' >/etc/crisp-e2e/resolv.conf
	cat >/etc/crisp-e2e/kubelet.yaml <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		containerRuntimeEndpoint: $CONTAINER_RUNTIME_ENDPOINT
		imageServiceEndpoint: $CONTAINER_RUNTIME_ENDPOINT
		cgroupDriver: systemd
		staticPodPath: $MANIFESTS
		fileCheckFrequency: 2s
		syncFrequency: 10s
		address: 127.0.0.1
		healthzBindAddress: 127.0.0.1
		readOnlyPort: 10255
		authentication:
		  anonymous:
		    enabled: true
		  webhook:
		    enabled: false
		authorization:
		  mode: AlwaysAllow
		failSwapOn: false
		resolvConf: /etc/crisp-e2e/resolv.conf
		# A small guest disk: evict only when it is really full.
		evictionHard:
		  memory.available: 50Mi
		  nodefs.available: 1%
		  imagefs.available: 1%
		  nodefs.inodesFree: 1%
		# Nothing but busybox: keep every image.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		# Pod and container stats, and /metrics/cadvisor, from crisp's CRI
		# stats and metrics rather than from cAdvisor.
		featureGates:
		  PodAndContainerStatsFromCRI: true
	EOF
	systemd-run --quiet --unit "$KUBELET_UNIT" --property Delegate=yes --property KillMode=process \
		"$(command -v kubelet)" --config /etc/crisp-e2e/kubelet.yaml --hostname-override "$NODE" --v 2 >/dev/null ||
		die "cannot start kubelet"
	kubelet_healthy() { [[ $(busybox wget -q -O - http://127.0.0.1:10248/healthz 2>/dev/null) == ok ]]; }
	expect 120 "kubelet $(kubelet --version 2>&1 | awk '{ print $2 }') runs standalone on crisp (healthz ok)" kubelet_healthy
}

# --- scenarios -------------------------------------------------------------------

scenario_basic() {
	expect 300 "basic: kubelet runs the static pod e2e-basic (crictl pods: Ready)" pods_ready e2e-basic
	expect 60 "basic: its container is Running (crictl ps)" running e2e-basic main
	local pod uid ns name
	pod=$(pod_id e2e-basic)
	uid=$(inspectp "$pod" '{{index .status.labels "io.kubernetes.pod.uid"}}')
	ns=$(inspectp "$pod" '{{index .status.labels "io.kubernetes.pod.namespace"}}')
	name=e2e-basic-$NODE
	log_has() { grep -q crisp-e2e-hello "/var/log/pods/${ns}_${name}_${uid}/main/0.log" 2>/dev/null; }
	expect 30 "basic: the echo is in /var/log/pods/${ns}_${name}_<uid>/main/0.log" log_has
	expect 30 "basic: crictl logs shows the echo" ctr_log_has e2e-basic main crisp-e2e-hello
	expect 60 "basic: exec readiness probe passes (kubelet's probe metrics)" \
		probes_at_least e2e-basic main Readiness successful 1
	expect 60 "basic: kubelet reports the pod Ready" kubelet_says_ready e2e-basic
	expect 60 "basic: exec liveness probe passes twice" probes_at_least e2e-basic main Liveness successful 2
	check "basic: no probe failed" test "$(probe_count e2e-basic main Readiness failed)$(probe_count e2e-basic main Liveness failed)" = 00
	check "basic: the container never restarted" test "$(attempt e2e-basic main)" = 0
	local main_id
	main_id=$(ctr_id e2e-basic main running)
	# name is the CRI container id only when crisp is the source.
	expect 60 "basic: kubelet's /metrics/cadvisor has crisp's CPU, memory and process series of the container" eval \
		'cadvisor_series container_cpu_usage_seconds_total "name=\"$main_id\"" "pod=\"$name\"" "container=\"main\"" &&
		 cadvisor_series container_memory_working_set_bytes "name=\"$main_id\"" &&
		 cadvisor_series container_processes "name=\"$main_id\"" &&
		 cadvisor_series container_fs_usage_bytes "name=\"$main_id\""'
	local id resolv
	id=$(ctr_id e2e-basic main running)
	resolv=$(crictl exec -s "$id" cat /etc/resolv.conf 2>&1 || true)
	check "basic: the pod's resolv.conf comes from kubelet's resolvConf" grep -q 'nameserver 192.0.2.53' <<<"$resolv"
}

scenario_liveness() {
	expect 300 "liveness: pod e2e-liveness starts" pods_ready e2e-liveness
	# kubelet kills the container at the first failed probe and restarts it
	# after a back-off of 10 s, then 20 s.
	expect 180 "liveness: a failing exec liveness probe makes kubelet restart the container (attempt >= 1)" \
		attempt_at_least e2e-liveness doomed 1
	expect 180 "liveness: and restart it again (attempt >= 2)" attempt_at_least e2e-liveness doomed 2
	check "liveness: kubelet counted the failed probes" probes_at_least e2e-liveness doomed Liveness failed 2
	# kubelet keeps the last dead attempt until the next one dies.
	killed_nonzero() {
		local id
		id=$(crictl ps -a --state exited --label "io.kubernetes.pod.name=e2e-liveness-$NODE" -q 2>/dev/null | awk 'NR == 1')
		KILLED="${id:0:13}: $(inspect "$id" '{{.status.exitCode}} {{.status.reason}}')"
		[[ -n $id && $(inspect "$id" '{{.status.exitCode}}') =~ ^[1-9][0-9]*$ ]]
	}
	KILLED=""
	if wait_for 60 killed_nonzero; then
		pass "liveness: a killed attempt exited with a non-zero code ($KILLED)"
	else
		fail "liveness: no killed attempt exited with a non-zero code within 60s (last seen: ${KILLED:-no exited container})"
	fi
}

scenario_limits() {
	expect 300 "limits: pod e2e-limits starts" pods_ready e2e-limits
	expect 60 "limits: its container is Running" running e2e-limits limited
	local id d
	id=$(ctr_id e2e-limits limited running)
	d=$(ctr_cgroup "$id")
	check "limits: the container's cgroup is crisp-<id>.scope under kubepods.slice ($d)" test -n "$d"
	[[ -n $d ]] || return 0
	check "limits: memory.max is 64Mi ($(cat "$d/memory.max"))" test "$(cat "$d/memory.max")" = $((64 << 20))
	check "limits: cpu.max is 200m ($(cat "$d/cpu.max"))" test "$(cat "$d/cpu.max")" = "20000 100000"
	local pid
	pid=$(inspect "$id" '{{.info.pid}}')
	check "limits: the container's process is in that cgroup" grep -qx "0::${d#"$CG"}" "/proc/$pid/cgroup"
	check "limits: the Guaranteed pod's slice is kubepods-pod<uid>.slice" \
		eval '[[ $(basename "$(dirname "$d")") == kubepods-pod*.slice ]]'
	expect 120 "stats: kubelet's /stats/summary has the container's CPU and memory usage" \
		summary_has_usage e2e-limits limited
}

scenario_net() {
	expect 300 "net: pod e2e-net starts" pods_ready e2e-net
	expect 60 "net: both containers Running" eval 'running e2e-net server && running e2e-net client'
	local pod ip
	pod=$(pod_id e2e-net)
	ip=$(inspectp "$pod" '{{.status.network.ip}}')
	check "net: the pod has an address on crisp's bridge network ($ip)" eval '[[ $ip == 10.88.* ]]'
	expect 60 "net: kubelet's /metrics/cadvisor has crisp's receive counter of the pod's eth0" \
		cadvisor_series container_network_receive_bytes_total "pod=\"e2e-net-$NODE\"" 'interface="eth0"'
	expect 60 "net: the client reaches the server over the pod's loopback (client log)" \
		ctr_log_has e2e-net client crisp-e2e-pong
	local client out
	client=$(ctr_id e2e-net client running)
	out=$(crictl exec -s "$client" busybox wget -q -O - http://127.0.0.1:8080/ 2>&1 || true)
	check "net: crictl exec -s (ExecSync) in the client reaches the server" grep -q crisp-e2e-pong <<<"$out"
	out=$(timeout 60 crictl exec "$client" busybox wget -q -O - http://127.0.0.1:8080/ 2>&1 || true)
	check "net: crictl exec (streaming Exec) in the client reaches the server" grep -q crisp-e2e-pong <<<"$out"
	out=$(crictl exec -s "$client" cat /proc/sys/kernel/hostname 2>&1 || true)
	check "net: the pod's hostname is its name ($out)" test "$out" = "e2e-net-$NODE"
	check "net: shareProcessNamespace: the client sees the server's httpd" sees_httpd "$client"
	has_reaper() { [[ $(ps -eo args=) == *"crisp pod-reaper $pod"* ]]; }
	check "net: crisp's pod reaper holds the shared PID namespace" has_reaper
}

# scenario_userns checks a hostUsers: false pod: kubelet's id range reaches
# crisp as userns_options, and the container's root is that range's first
# host id, not the host's root.
scenario_userns() {
	expect 300 "userns: kubelet runs the hostUsers: false pod e2e-userns (crictl pods: Ready)" pods_ready e2e-userns
	expect 60 "userns: its container is Running" running e2e-userns sleeper
	local pod id opts mode host len gmode ghost
	pod=$(pod_id e2e-userns)
	id=$(ctr_id e2e-userns sleeper running)
	[[ -n $pod && -n $id ]] || { fail "userns: pod e2e-userns is not running"; return; }
	opts='.status.linux.namespaces.options.usernsOptions'
	mode=$(inspectp "$pod" "{{$opts.mode}}")
	host=$(inspectp "$pod" "{{with index $opts.uids 0}}{{.containerId}} {{.hostId}}{{end}}")
	len=$(inspectp "$pod" "{{with index $opts.uids 0}}{{.length}}{{end}}")
	gmode=$(inspectp "$pod" "{{len $opts.uids}} {{len $opts.gids}}")
	ghost=$(inspectp "$pod" "{{with index $opts.gids 0}}{{.containerId}} {{.hostId}} {{.length}}{{end}}")
	# kubelet's default range: 65536 ids a pod, from host id 65536 on.
	check "userns: the sandbox status has userns_options mode POD with kubelet's maps (uids: 0 -> ${host#* }, $len ids; gids: $ghost)" \
		eval '[[ $mode == POD && $gmode == "1 1" && $host =~ ^0\ [1-9][0-9]*$ && $len == 65536 &&
			$(( ${host#* } % 65536 )) == 0 && $ghost == "$host $len" ]]'
	host=${host#* }
	local uid map
	uid=$(crictl exec -s "$id" id -u 2>&1 || true)
	check "userns: id -u in the container is 0 ($uid)" test "$uid" = 0
	map=$(crictl exec -s "$id" cat /proc/self/uid_map 2>&1 || true)
	map=$(awk '{ $1 = $1; print }' <<<"$map")
	check "userns: the container's /proc/self/uid_map is kubelet's mapping ($map), not the host's" \
		test "$map" = "0 $host 65536"
	local pid huid
	pid=$(inspect "$id" '{{.info.pid}}')
	huid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)
	check "userns: on the host the container's process (pid $pid) runs as the unprivileged uid $host (Uid: $huid)" \
		eval '[[ $host -gt 0 && $huid == "$host $host $host $host" ]]'
}

# scenario_remove_start deletes e2e-basic's manifest; kubelet stops the pod
# at once, and its container garbage collection, once a minute, removes the
# sandbox. The other scenarios run meanwhile; scenario_remove_check checks
# the result.
scenario_remove_start() {
	REMOVED_POD=$(pod_id e2e-basic)
	[[ -n $REMOVED_POD ]] || { fail "remove: pod e2e-basic is not running"; return; }
	REMOVED_UID=$(inspectp "$REMOVED_POD" '{{index .status.labels "io.kubernetes.pod.uid"}}')
	check "remove: the pod has cgroups under kubepods.slice while it runs" eval '[[ -n $(pod_cgroups "$REMOVED_UID") ]]'
	rm "$MANIFESTS/basic.yaml"
}

scenario_remove_check() {
	[[ -n ${REMOVED_POD:-} ]] || return 0
	expect 240 "remove: deleting the manifest makes kubelet stop and remove the pod (no crisp pod or container left)" \
		pod_gone e2e-basic
	expect 60 "remove: no cgroup of the pod is left under kubepods.slice" no_pod_cgroups "$REMOVED_UID"
	check "remove: crisp no longer knows the sandbox" eval '! crictl inspectp "$REMOVED_POD" >/dev/null 2>&1'
}

scenario_restart() {
	local server client limited spid cpid lpid lines
	server=$(ctr_id e2e-net server running)
	client=$(ctr_id e2e-net client running)
	limited=$(ctr_id e2e-limits limited running)
	[[ -n $server && -n $client && -n $limited ]] || { fail "restart: pods e2e-net and e2e-limits are not running"; return; }
	spid=$(inspect "$server" '{{.info.pid}}')
	cpid=$(inspect "$client" '{{.info.pid}}')
	lpid=$(inspect "$limited" '{{.info.pid}}')
	local crisp_pid
	crisp_pid=$(systemctl show -P MainPID crisp)
	systemctl restart crisp
	check "restart: systemctl restart crisp gives a new daemon" test "$(systemctl show -P MainPID crisp)" != "$crisp_pid"
	expect 60 "restart: crisp answers again" crisp_up
	check "restart: the server keeps its pid $spid" test "$(inspect "$server" '{{.info.pid}}')" = "$spid"
	check "restart: the client keeps its pid $cpid" test "$(inspect "$client" '{{.info.pid}}')" = "$cpid"
	check "restart: the limited container keeps its pid $lpid" test "$(inspect "$limited" '{{.info.pid}}')" = "$lpid"
	check "restart: the three processes are alive" eval 'alive "$spid" && alive "$cpid" && alive "$lpid"'
	lines=$(crictl logs "$client" 2>/dev/null | grep -c crisp-e2e-pong || true)
	# Give kubelet several sync periods (10 s) and PLEG relists to notice
	# anything amiss.
	sleep 30
	check "restart: kubelet kept the three containers (same ids, still Running)" \
		test "$(ctr_id e2e-net server running)/$(ctr_id e2e-net client running)/$(ctr_id e2e-limits limited running)" = "$server/$client/$limited"
	check "restart: none of them was restarted" \
		test "$(attempt e2e-net server)/$(attempt e2e-net client)/$(attempt e2e-limits limited)" = 0/0/0
	check "restart: the client's log keeps growing through crisp's restart" \
		test "$(crictl logs "$client" 2>/dev/null | grep -c crisp-e2e-pong || true)" -gt "$lines"
	local out
	out=$(crictl exec -s "$client" busybox wget -q -O - http://127.0.0.1:8080/ 2>&1 || true)
	check "restart: ExecSync into the client works against the new daemon" grep -q crisp-e2e-pong <<<"$out"
	check "restart: the pod's shared PID namespace is intact (the client still sees httpd)" sees_httpd "$client"
}

# last_number ID prints the last number container ID logged.
last_number() { crictl logs "$1" 2>/dev/null | awk '/^[0-9]+$/ { n = $1 } END { print n + 0 }'; }
# first_number ID prints the first number container ID logged.
first_number() { crictl logs "$1" 2>/dev/null | awk '/^[0-9]+$/ { print; exit }'; }

# scenario_checkpoint: kubelet's checkpoint API writes an archive that
# checkpointctl reads; crictl checkpoints the same counter, for
# scenario_restore.
scenario_checkpoint() {
	expect 300 "checkpoint: kubelet runs the counter pod e2e-checkpoint" running e2e-checkpoint counter
	local ctr archive stopped
	ctr=$(ctr_id e2e-checkpoint counter running)
	past() { [[ $(last_number "$1") -ge $2 ]]; }
	expect 60 "checkpoint: the counter counts past 5" past "$ctr" 5
	archive=$("$WORK/checkpoint-api" default "e2e-checkpoint-$NODE" counter 2>"$LOGS/checkpoint-api.log" | awk 'NR == 1')
	check "checkpoint: kubelet's checkpoint API wrote $archive" \
		eval '[[ $archive == /var/lib/kubelet/checkpoints/checkpoint-e2e-checkpoint-${NODE}_default-counter-*.tar && -f $archive ]]'
	check "checkpoint: the archive is readable by root only" eval '[[ $(stat -c %a "$archive" 2>/dev/null) == 600 ]]'
	checkpointctl show "$archive" >"$LOGS/checkpointctl-show.txt" 2>&1
	check "checkpoint: checkpointctl show lists the counter" grep -q counter "$LOGS/checkpointctl-show.txt"
	stopped=$(last_number "$ctr")
	expect 30 "checkpoint: the counter counts on after kubelet's checkpoint" past "$ctr" $((stopped + 2))

	# The archive catches the counter past this number.
	RESTORE_AFTER=$(last_number "$ctr")
	check "checkpoint: crictl checkpoint --export writes an archive" \
		eval 'crictl checkpoint --export=/var/tmp/e2e-counter.tar "$ctr" >/dev/null 2>&1 && [[ -f /var/tmp/e2e-counter.tar ]]'
	rm -f "$archive"
}

# scenario_restore, once kubelet is stopped (it would stop a pod it did not
# make): crisp restarts, and crictl restores the archive of
# scenario_checkpoint into a new pod, where it counts on from where it was
# checkpointed.
scenario_restore() {
	local pod rc first stopped=${RESTORE_AFTER:-0}
	[[ -f /var/tmp/e2e-counter.tar ]] || { fail "restore: no archive from crictl checkpoint"; return; }
	systemctl restart crisp
	expect 60 "restore: crisp answers again after a restart" crisp_up
	install -d /var/tmp/e2e-restore
	cat >/var/tmp/e2e-restore/pod.json <<-EOF
		{ "metadata": { "name": "e2e-restored", "namespace": "default", "uid": "e2e-restored-uid" },
		  "log_directory": "/var/log/pods/default_e2e-restored_e2e-restored-uid" }
	EOF
	# kubelet gave the checkpointed container its termination log as a
	# bind mount: the restored one needs one at the same place.
	: >/var/tmp/e2e-restore/termination-log
	cat >/var/tmp/e2e-restore/container.json <<-EOF
		{ "metadata": { "name": "counter" }, "image": { "image": "/var/tmp/e2e-counter.tar" }, "log_path": "counter/0.log",
		  "mounts": [ { "container_path": "/dev/termination-log", "host_path": "/var/tmp/e2e-restore/termination-log" } ] }
	EOF
	pod=$(crictl runp /var/tmp/e2e-restore/pod.json 2>"$LOGS/restore-runp.log")
	rc=$(crictl create --no-pull "$pod" /var/tmp/e2e-restore/container.json /var/tmp/e2e-restore/pod.json 2>"$LOGS/restore-create.log")
	check "restore: crictl create of the archive makes a container in a new pod" test -n "$rc"
	check "restore: it is created, not running, until started" \
		eval '[[ $(inspect "$rc" "{{.status.state}}") == CONTAINER_CREATED && -z $(crictl logs "$rc" 2>/dev/null) ]]'
	crictl start "$rc" >/dev/null 2>&1
	expect 60 "restore: the restored counter runs" eval '[[ $(inspect "$rc" "{{.status.state}}") == CONTAINER_RUNNING ]]'
	expect 60 "restore: it logs" eval '[[ -n $(first_number "$rc") ]]'
	first=$(first_number "$rc")
	check "restore: it counts on from where it was checkpointed (first number $first; it had passed $stopped before)" \
		eval '[[ $first -gt $stopped ]]'
	past() { [[ $(last_number "$1") -ge $2 ]]; }
	expect 30 "restore: and keeps counting" past "$rc" $((first + 2))
	check "restore: crictl inspect tells it was restored from the archive" \
		eval '[[ $(inspect "$rc" "{{.info.restored.from}}") == /var/tmp/e2e-counter.tar ]]'
	crictl stopp "$pod" >/dev/null 2>&1
	crictl rmp "$pod" >/dev/null 2>&1
	check "restore: the restored pod is removed" eval '[[ -z $(crictl pods --name "^e2e-restored\$" -q 2>/dev/null) ]]'
	rm -rf /var/tmp/e2e-counter.tar /var/tmp/e2e-restore
}

# teardown removes every manifest and checks that kubelet and crisp leave
# nothing behind.
teardown() {
	rm -f "$MANIFESTS"/*.yaml
	local p
	all_gone() { for p in e2e-basic e2e-liveness e2e-limits e2e-net e2e-userns e2e-checkpoint; do pod_gone "$p" || return 1; done; }
	expect 240 "teardown: every pod is removed after its manifest is" all_gone
	no_pod_slices() { [[ -z $(find "$CG/kubepods.slice" -type d -name '*-pod*.slice' 2>/dev/null) ]]; }
	expect 60 "teardown: no pod cgroup is left under kubepods.slice" no_pod_slices
	no_scopes() { [[ -z $(find "$CG/kubepods.slice" -type d -name 'crisp-*.scope' 2>/dev/null) ]]; }
	check "teardown: no container scope is left" no_scopes
	no_reaper() { [[ $(ps -eo args=) != *"pod-reaper"* ]]; }
	check "teardown: no pod reaper process is left (shareProcessNamespace)" no_reaper
}

save_logs() {
	mkdir -p "$LOGS"
	journalctl -u "$KUBELET_UNIT" --no-pager >"$LOGS/kubelet.log" 2>&1 || true
	journalctl -u crisp --no-pager >"$LOGS/crisp.log" 2>&1 || true
	crictl pods >"$LOGS/crictl-pods.txt" 2>&1 || true
	crictl ps -a >"$LOGS/crictl-ps.txt" 2>&1 || true
	systemd-cgls --no-pager "$CG/kubepods.slice" >"$LOGS/cgroups.txt" 2>&1 || true
}

main() {
	trap save_logs EXIT
	trap '' PIPE
	mkdir -p "$LOGS"
	echo "=== kubelet e2e (qemu guest, $(uname -r), $CG: $(cat "$CG/cgroup.controllers"))"
	wait_systemd
	install_crisp
	install -d "$MANIFESTS"
	local m
	for m in basic liveness limits net userns checkpoint; do
		install -m 0644 "$HERE/manifests/$m.yaml" "$MANIFESTS/$m.yaml"
	done
	start_kubelet
	# From here on a failed check fails only itself.
	set +e
	scenario_basic
	scenario_remove_start
	scenario_limits
	scenario_net
	scenario_userns
	scenario_liveness
	scenario_remove_check
	scenario_restart
	scenario_checkpoint
	teardown
	systemctl stop "$KUBELET_UNIT" 2>/dev/null || true
	scenario_restore
	echo "kubelet e2e: $PASSED passed, $FAILED failed"
	((FAILED == 0))
}

# One line: bash reads a script as it runs it, so a file changed under a
# running test must not feed it more commands once main returns.
main "$@"; exit
