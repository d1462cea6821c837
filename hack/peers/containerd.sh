#!/usr/bin/env bash
# containerd as a side-by-side peer runtime for crisp's benchmarks: containerd,
# ctr and containerd-shim-runc-v2 built from the Go module proxy at one pinned
# version as containerd's Makefile builds them (the shim static, without
# cgo), runc built as its release is (hack/peers/runc.sh), and a locally
# built pause image, since public
# registries may be unreachable. A started peer lives entirely in a directory
# the caller gives (root, state, runc root, sockets, config, log, pinned pod
# network namespaces); it never touches a system containerd or /etc.
#
# Run it:
#   hack/peers/containerd.sh install
#       Build/install what the peer needs (idempotent, cached under
#       $CRISP_PEERS_CACHE, default /var/cache/crisp-peers).
#   hack/peers/containerd.sh start DIR [--cni-conf-dir D] [--cni-bin-dir D]...
#                                      [--netns PATH] [--no-cri]
#       Install if needed, write DIR/config.toml, start containerd on it
#       (inside the network namespace PATH with --netns, e.g. /run/netns/x),
#       import the pause image into the k8s.io namespace and print the CRI
#       endpoint, unix://DIR/containerd.sock. --no-cri starts containerd
#       without its CRI plugins (for image or task benchmarks through ctr).
#   hack/peers/containerd.sh stop DIR
#       Stop that containerd, delete every container and shim it left,
#       unmount everything under DIR. DIR itself stays for the caller.
#   hack/peers/containerd.sh ctr DIR ARGS...
#       Run the peer's ctr against the containerd in DIR.
#
# Or source it and call containerd_peer_install, containerd_peer_start,
# containerd_peer_stop, containerd_peer_ctr with the same arguments.
# Environment: CONTAINERD_VERSION (default v2.4.2), RUNC_VERSION (hack/peers/runc.sh),
# CRISP_PEERS_CACHE.
# Needs root, Go (/usr/local/go/bin is added to PATH) and Debian's apt.

CONTAINERD_PEER_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=hack/lib.sh
. "$CONTAINERD_PEER_REPO/hack/lib.sh"

CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CRISP_PEERS_CACHE=${CRISP_PEERS_CACHE:-/var/cache/crisp-peers}
CONTAINERD_PEER_MODULE=github.com/containerd/containerd/v2
CONTAINERD_PEER_BIN=$CRISP_PEERS_CACHE/containerd-$CONTAINERD_VERSION/bin
# The pause image is named after its program's source, so a changed program
# gets a new image.
CONTAINERD_PEER_PAUSE_SRC=$CONTAINERD_PEER_REPO/test/bench/pause/main.go
# shellcheck source=hack/peers/runc.sh
. "$CONTAINERD_PEER_REPO/hack/peers/runc.sh"
CONTAINERD_PEER_RUNC=$RUNC_PEER
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH=$PATH:/usr/local/go/bin ;; esac

# containerd_peer_install builds containerd, ctr and the runc shim at
# CONTAINERD_VERSION (btrfs support left out: it needs C headers), the shim
# static and without cgo as containerd's Makefile builds it
# (SHIM_CGO_ENABLED=0), builds the peer runc and the pause image archive.
containerd_peer_install() {
	require_root
	runc_peer_install
	local missing=() cmd
	for cmd in containerd ctr; do
		has_module_version "$CONTAINERD_PEER_BIN/$cmd" "$CONTAINERD_PEER_MODULE" "$CONTAINERD_VERSION" ||
			missing+=("$CONTAINERD_PEER_MODULE/cmd/$cmd@$CONTAINERD_VERSION")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "building containerd $CONTAINERD_VERSION (${#missing[@]} commands) into $CONTAINERD_PEER_BIN"
		mkdir -p "$CONTAINERD_PEER_BIN"
		(cd / && GOBIN="$CONTAINERD_PEER_BIN" GOFLAGS=-buildvcs=false go install -tags no_btrfs "${missing[@]}")
	fi
	local shim=$CONTAINERD_PEER_BIN/containerd-shim-runc-v2
	if ! has_module_version "$shim" "$CONTAINERD_PEER_MODULE" "$CONTAINERD_VERSION" ||
		! has_build_setting "$shim" CGO_ENABLED=0; then
		log "building containerd-shim-runc-v2 $CONTAINERD_VERSION (static) into $CONTAINERD_PEER_BIN"
		mkdir -p "$CONTAINERD_PEER_BIN"
		(cd / && GOBIN="$CONTAINERD_PEER_BIN" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
			"$CONTAINERD_PEER_MODULE/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION")
	fi
	containerd_peer_pause_archive >/dev/null
}

# containerd_peer_pause_ref prints the pause image's reference.
containerd_peer_pause_ref() {
	local sum
	sum=$(sha256sum "$CONTAINERD_PEER_PAUSE_SRC" | cut -c1-12)
	echo "localhost/crisp-peers/pause:$sum"
}

# containerd_peer_pause_archive builds (once) and prints the path of an OCI
# image archive holding one static program, /pause, as its entrypoint. The
# archive's index names the image through the annotation ctr import reads.
containerd_peer_pause_archive() {
	local ref tag archive
	ref=$(containerd_peer_pause_ref)
	tag=${ref##*:}
	archive=$CRISP_PEERS_CACHE/pause-$tag.tar
	if [ -s "$archive" ]; then
		echo "$archive"
		return 0
	fi
	log "building pause image $ref"
	local work
	work=$(mktemp -d)
	(
		set -e
		mkdir -p "$work/rootfs" "$work/oci/blobs/sha256"
		cd "$CONTAINERD_PEER_REPO"
		CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$work/rootfs/pause" ./test/bench/pause
		tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" pause
		blob() { # blob FILE: store FILE as a blob, print "digest size"
			local d
			d=$(sha256sum "$1" | cut -d' ' -f1)
			cp "$1" "$work/oci/blobs/sha256/$d"
			echo "sha256:$d $(stat -c %s "$1")"
		}
		local out layer_digest layer_size config_digest config_size manifest_digest manifest_size
		out=$(blob "$work/layer.tar")
		read -r layer_digest layer_size <<<"$out"
		printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"crisp test/bench/pause"}]}' \
			"$(go env GOARCH)" "$layer_digest" >"$work/config.json"
		out=$(blob "$work/config.json")
		read -r config_digest config_size <<<"$out"
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
			"$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/manifest.json"
		out=$(blob "$work/manifest.json")
		read -r manifest_digest manifest_size <<<"$out"
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
			"$manifest_digest" "$manifest_size" "$ref" "$tag" >"$work/oci/index.json"
		echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
		mkdir -p "$CRISP_PEERS_CACHE"
		tar --owner=0 --group=0 --numeric-owner -C "$work/oci" -cf "$archive.tmp" oci-layout index.json blobs
		mv "$archive.tmp" "$archive"
	)
	local rc=$?
	rm -rf "$work"
	[ $rc -eq 0 ] || die "building the pause image failed"
	echo "$archive"
}

# containerd_peer_ctr DIR ARGS... runs ctr against the peer in DIR.
containerd_peer_ctr() {
	local dir=$1
	shift
	"$CONTAINERD_PEER_BIN/ctr" --address "$dir/containerd.sock" "$@"
}

# containerd_peer_config DIR CRI CONF_DIR BIN_DIRS... writes DIR/config.toml:
# every path inside DIR, NRI and the /opt plugin kept off the host, the runc
# runtime through the shim built with containerd, and the local pause image.
containerd_peer_config() {
	local dir=$1 cri=$2 conf_dir=$3
	shift 3
	local bin_dirs="" d
	for d in "$@"; do bin_dirs+="${bin_dirs:+, }'$d'"; done
	{
		cat <<EOF
# Written by hack/peers/containerd.sh for a side-by-side peer.
version = 3
root = '$dir/root'
state = '$dir/state'
temp = '$dir/tmp'
imports = []
EOF
		if [ "$cri" = no ]; then
			echo "disabled_plugins = ['io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.grpc.v1.cri', 'io.containerd.nri.v1.nri']"
		else
			echo "disabled_plugins = ['io.containerd.nri.v1.nri']"
		fi
		cat <<EOF

[grpc]
  address = '$dir/containerd.sock'

[ttrpc]
  address = '$dir/containerd.sock.ttrpc'

[plugins.'io.containerd.internal.v1.opt']
  path = '$dir/opt'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$(containerd_peer_pause_ref)'

[plugins.'io.containerd.cri.v1.runtime']
  # Root here may lack CAP_SYS_RESOURCE: never lower a container's
  # oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  # Pod network namespaces are pinned under the state dir, not /run/netns.
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      runtime_path = '$CONTAINERD_PEER_BIN/containerd-shim-runc-v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$CONTAINERD_PEER_RUNC'
        Root = '$dir/runc'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    conf_dir = '$conf_dir'
    bin_dirs = [$bin_dirs]

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
EOF
	} >"$dir/config.toml"
}

# containerd_peer_start DIR [--cni-conf-dir D] [--cni-bin-dir D]... [--netns PATH] [--no-cri]
containerd_peer_start() {
	local dir=${1:?usage: containerd_peer_start DIR [options]}
	shift
	local conf_dir=/etc/cni/net.d netns="" cri=yes bin_dirs=()
	while [ $# -gt 0 ]; do
		case $1 in
		--cni-conf-dir) conf_dir=$2; shift 2 ;;
		--cni-bin-dir) bin_dirs+=("$2"); shift 2 ;;
		--netns) netns=$2; shift 2 ;;
		--no-cri) cri=no; shift ;;
		*) die "containerd_peer_start: unknown option $1" ;;
		esac
	done
	[ ${#bin_dirs[@]} -gt 0 ] || bin_dirs=(/opt/cni/bin)
	containerd_peer_install
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# containerd's unix socket path must fit in sun_path (108 bytes).
	[ ${#dir} -le 80 ] || die "containerd peer dir $dir is too long for its socket path"
	mkdir -p "$dir/root" "$dir/state" "$dir/tmp" "$dir/opt"
	containerd_peer_config "$dir" "$cri" "$conf_dir" "${bin_dirs[@]}"

	local cmd=("$CONTAINERD_PEER_BIN/containerd" --config "$dir/config.toml")
	[ -z "$netns" ] || cmd=(nsenter "--net=$netns" -- "${cmd[@]}")
	# setsid: the daemon and its shims must not get the caller's terminal
	# signals; stop ends them.
	PATH=$CONTAINERD_PEER_BIN:$PATH setsid "${cmd[@]}" >"$dir/containerd.log" 2>&1 </dev/null &
	echo $! >"$dir/containerd.pid"

	for _ in $(seq 300); do
		if [ -S "$dir/containerd.sock" ] && containerd_peer_ctr "$dir" version >/dev/null 2>&1; then
			break
		fi
		kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || {
			tail -n 30 "$dir/containerd.log" >&2
			die "containerd exited at start-up (log: $dir/containerd.log)"
		}
		sleep 0.1
	done
	containerd_peer_ctr "$dir" version >/dev/null 2>&1 || die "containerd did not serve on $dir/containerd.sock within 30s"

	if [ "$cri" = yes ]; then
		# ctr warns about cgroup v1 on hybrid hosts on every call: show its
		# stderr only when it fails.
		local out
		out=$(containerd_peer_ctr "$dir" -n k8s.io images import "$(containerd_peer_pause_archive)" 2>&1) ||
			die "importing the pause image into the peer failed: $out"
		out=$(containerd_peer_ctr "$dir" -n k8s.io images ls -q 2>/dev/null)
		grep -qxF "$(containerd_peer_pause_ref)" <<<"$out" || die "the pause image is not listed after import"
	fi
	echo "unix://$dir/containerd.sock"
}

# containerd_peer_stop DIR stops the peer in DIR and everything it started.
containerd_peer_stop() {
	local dir=${1:?usage: containerd_peer_stop DIR}
	[ -d "$dir" ] || return 0
	dir=$(cd "$dir" && pwd)
	local pid=""
	[ -f "$dir/containerd.pid" ] && pid=$(cat "$dir/containerd.pid")
	# Only a process started on this DIR's config is ours to stop.
	if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--config $dir/config.toml"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/containerd.pid"

	# Containers the peer left: runc keeps them under <Root>/<namespace>.
	local root id
	for root in "$dir"/runc/*; do
		[ -d "$root" ] || continue
		for id in $("$CONTAINERD_PEER_RUNC" --root "$root" list -q 2>/dev/null); do
			"$CONTAINERD_PEER_RUNC" --root "$root" delete --force "$id" >/dev/null 2>&1 ||
				log "could not delete container $id of the containerd peer in $dir"
		done
	done
	# Shims of this peer name its socket as an argument. Read in bash: a
	# grep given the path would find itself.
	local f p a args
	for f in /proc/[0-9]*/cmdline; do
		mapfile -d '' -t args 2>/dev/null <"$f" || continue
		for a in "${args[@]}"; do
			[ "$a" = "$dir/containerd.sock" ] || continue
			p=${f#/proc/}
			kill -KILL "${p%/cmdline}" 2>/dev/null || true
			break
		done
	done
	# Snapshots, pinned network namespaces, shm: unmount deepest first.
	local m
	awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || log "could not unmount $m"
	done
}

containerd_peer_main() {
	set -euo pipefail
	local sub=${1:-}
	[ $# -gt 0 ] && shift
	case $sub in
	install) containerd_peer_install "$@" ;;
	start) containerd_peer_start "$@" ;;
	stop) containerd_peer_stop "$@" ;;
	ctr) containerd_peer_ctr "$@" ;;
	*)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	containerd_peer_main "$@"
fi
