#!/usr/bin/env bash
# Builds kubelet from k8s.io/kubernetes at a pinned release through the Go
# module proxy and installs it beside the other test tools, for the kubelet
# end-to-end test (hack/kubelet-e2e.sh). Idempotent: an installed kubelet
# that already reports the pinned version is kept.
#
# k8s.io/kubernetes cannot be required as a plain dependency: its go.mod
# points every k8s.io/* staging module at ./staging/src with v0.0.0
# requirements. The build therefore happens in a throwaway module that
# requires it and replaces each of those staging modules with its published
# release (v0.X.Y for kubernetes v1.X.Y), read from kubernetes' own go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
require_root

BIN=${TOOLS_BIN:-/usr/local/bin}
# The kubelet release the end-to-end test runs.
VERSION=v1.37.2

installed=$("$BIN/kubelet" --version 2>/dev/null || true)
if [ "$installed" = "Kubernetes $VERSION" ]; then
	exit 0
fi

log "building kubelet $VERSION (a few minutes)"
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# The environment's GOFLAGS (crisp's build tags) and a go.work do not apply
# to this module.
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

# A module of its own from the start, so that go looks for no go.mod above.
echo 'module crisp.test/kubelet-build' >go.mod
go mod download -json "k8s.io/kubernetes@$VERSION" >mod.json
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' mod.json)
[ -r "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$VERSION in the module cache"

# "k8s.io/api => ./staging/src/k8s.io/api" becomes "k8s.io/api => k8s.io/api v0.37.2".
staging_version=v0.${VERSION#v1.}
replaces=$(awk -v v="$staging_version" '
	/^replace \(/ { inside = 1; next }
	inside && /^\)/ { inside = 0 }
	inside && $2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }
' "$gomod")
[ -n "$replaces" ] || die "no staging replace directives in $gomod"

go_version=$(awk '$1 == "go" { print $2; exit }' "$gomod")
cat >go.mod <<EOF
module crisp.test/kubelet-build

go $go_version

require k8s.io/kubernetes $VERSION

replace (
$replaces
)
EOF

# kubernetes' own build stamps the version into both version packages.
major=${VERSION#v}
minor=${major#*.}
minor=${minor%%.*}
major=${major%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# go get lists every module it adds: keep that for a failure.
go get "k8s.io/kubernetes/cmd/kubelet@$VERSION" 2>get.log || { cat get.log >&2; die "go get k8s.io/kubernetes@$VERSION failed"; }
mkdir -p "$BIN"
go build -trimpath -ldflags "$ldflags" -o "$BIN/kubelet.new" k8s.io/kubernetes/cmd/kubelet
installed=$("$BIN/kubelet.new" --version 2>&1 || true)
[ "$installed" = "Kubernetes $VERSION" ] || die "built kubelet reports '$installed', want 'Kubernetes $VERSION'"
mv -f "$BIN/kubelet.new" "$BIN/kubelet"
log "kubelet $VERSION installed in $BIN in $((SECONDS - start))s"
