# Shared shell functions for crisp's hack/ scripts. Source it; do not run it.

# Build tags: go.podman.io libraries free of C dependencies, no gRPC
# request tracing, no NRI WASM plugins (see TAGS in the Makefile).
CRISP_TAGS="containers_image_openpgp exclude_graphdriver_btrfs grpcnotrace nri_no_wasm"
# crisp-oci's JSON engine (CRISP_OCI_GOEXPERIMENT in the Makefile).
CRISP_OCI_GOEXPERIMENT=jsonv2

# Pinned tool versions, fetched from the Go module proxy.
CRI_TOOLS_VERSION=v1.37.0
CNI_PLUGINS_VERSION=v1.10.0
GOTESTSUM_VERSION=v1.13.0
# checkpointctl reads CheckpointContainer's archives in the tests; v1.6.0 is
# the newest whose dependencies the module proxy serves whole.
CHECKPOINTCTL_VERSION=v1.6.0
# The Kubernetes release built from k8s.io/kubernetes: kubelet for the kubelet
# end-to-end test, every component for the test cluster (hack/cluster/).
KUBERNETES_VERSION=v1.37.2

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# build_crisp DIR [VERSION] builds the daemon, DIR/crisp, linked statically
# as the Makefile links it (GOFLAGS_BUILD_CRISP), and DIR/crisp-image,
# which it pulls and loads images with and finds beside itself, from the
# repository in the current directory (stamped VERSION if given).
build_crisp() {
	local dir=$1 version=()
	[ -z "${2:-}" ] || version=("-X github.com/crisp-runtime/crisp/pkg/version.version=$2")
	mkdir -p "$dir"
	go build -buildvcs=false -tags "$CRISP_TAGS osusergo netgo" \
		-ldflags "${version[*]} -linkmode external -extldflags '-static -Wl,-e,crisp_entry'" -o "$dir/crisp" ./cmd/crisp
	go build -buildvcs=false -tags "$CRISP_TAGS" -ldflags "${version[*]}" -o "$dir/crisp-image" ./cmd/crisp-image
}

# apt_install installs the Debian packages that are missing, updating the
# package lists once per run.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	if [ -z "${CRISP_APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		export CRISP_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_install_pinned installs PKG@VERSION into DIR unless DIR/NAME already
# reports VERSION through VERSION_CMD.
go_install_pinned() {
	local pkg=$1 version=$2 dir=$3 name=$4 version_cmd=$5
	if [ -x "$dir/$name" ] && "$dir/$name" $version_cmd 2>/dev/null | grep -q "${version#v}"; then
		return 0
	fi
	log "installing $name $version"
	mkdir -p "$dir"
	GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$pkg@$version"
}

# has_module_version BINARY MODULE VERSION: the Go binary was built from
# MODULE at VERSION.
has_module_version() {
	[ -x "$1" ] || return 1
	# Read all output first: grep -q closing the pipe early would make the
	# writer fail under pipefail.
	local info
	info=$(go version -m "$1" 2>/dev/null) || return 1
	grep -qE "^[[:space:]]+(mod|dep)[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)" <<<"$info"
}

# has_build_setting FILE SETTING: the Go binary FILE was built with
# SETTING, a regular expression matching one of the "build" lines of
# `go version -m` (CGO_ENABLED=0, -tags=.*seccomp, ...) whole.
has_build_setting() {
	[ -x "$1" ] || return 1
	local info
	info=$(go version -m "$1" 2>/dev/null) || return 1
	grep -qE "^[[:space:]]+build[[:space:]]+$2\$" <<<"$info"
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "$0 must run as root"
}
