# shellcheck shell=bash
# Builds Go commands at pinned module versions in throwaway modules, through
# the Go module proxy: Kubernetes' components (hack/install-kubelet.sh,
# hack/cluster/build.sh), etcd and CoreDNS. Source it after hack/lib.sh; do
# not run it.
#
# Every build is niced and builds one command at a time, so that it shares a
# small machine with whatever else runs there.

# throwaway_build MODULE VERSION OUTDIR LDFLAGS REPLACES PKG... builds each
# PKG (a main package of MODULE@VERSION) into OUTDIR/<last path element of
# PKG> in a throwaway module that requires MODULE at VERSION; a PKG written
# test:IMPORTPATH is that package's test binary (go test -c), built into
# OUTDIR/<last path element>.test. REPLACES, when
# not empty, is the body of a replace block for that module's go.mod. Each
# binary is written beside its final name and renamed into place once built.
throwaway_build() {
	local module=$1 version=$2 out=$3 ldflags=$4 replaces=$5
	shift 5
	mkdir -p "$out"
	(
		work=$(mktemp -d)
		trap 'rm -rf "$work"' EXIT
		cd "$work" || exit
		# The environment's GOFLAGS (crisp's build tags) and a go.work do not
		# apply to this module.
		export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
		# A module of its own from the start, so that go looks for no go.mod
		# above.
		echo 'module crisp.test/throwaway-build' >go.mod
		nice -n 19 go mod download -json "$module@$version" >mod.json
		gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' mod.json)
		[ -r "$gomod" ] || die "no go.mod for $module@$version in the module cache"
		go_version=$(awk '$1 == "go" { print $2; exit }' "$gomod")
		{
			echo 'module crisp.test/throwaway-build'
			echo
			echo "go $go_version"
			echo
			echo "require $module $version"
			if [ -n "$replaces" ]; then
				printf '\nreplace (\n%s\n)\n' "$replaces"
			fi
		} >go.mod
		for pkg in "$@"; do
			build=(go build)
			if [[ $pkg == test:* ]]; then
				pkg=${pkg#test:}
				build=(go test -c)
			fi
			name=${pkg##*/}
			[ "${build[1]}" = test ] && name+=.test
			# go get lists every module it adds: keep that for a failure.
			nice -n 19 go get "$pkg@$version" 2>get.log ||
				{ cat get.log >&2; die "go get $pkg@$version failed"; }
			nice -n 19 "${build[@]}" -trimpath -ldflags "$ldflags" -o "$out/$name.new" "$pkg"
			mv -f "$out/$name.new" "$out/$name"
		done
	)
}

# k8s_version_of BINARY prints the Kubernetes version BINARY reports
# ("Kubernetes v1.37.2" from --version; kubectl's client version), or
# nothing.
k8s_version_of() {
	local out
	[ -x "$1" ] || return 0
	case ${1##*/} in
	kubectl) out=$("$1" version --client 2>/dev/null || true)
		sed -n 's/^Client Version: \(.*\)$/Kubernetes \1/p' <<<"$out" ;;
	*) "$1" --version 2>/dev/null || true ;;
	esac
}

# k8s_replaces VERSION prints the body of a replace block that points each
# k8s.io/* staging module of k8s.io/kubernetes VERSION (v1.X.Y) at its
# published release (v0.X.Y).
#
# k8s.io/kubernetes cannot be required as a plain dependency: its go.mod
# points every k8s.io/* staging module at ./staging/src with v0.0.0
# requirements. A throwaway module therefore replaces each of those staging
# modules with its published release, read from kubernetes' own go.mod.
k8s_replaces() {
	local version=$1 gomod replaces
	gomod=$(cd / && GOFLAGS=-mod=mod GOWORK=off nice -n 19 go mod download -json "k8s.io/kubernetes@$version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[ -r "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$version in the module cache"
	# "k8s.io/api => ./staging/src/k8s.io/api" becomes "k8s.io/api => k8s.io/api v0.37.2".
	replaces=$(awk -v v="v0.${version#v1.}" '
		/^replace \(/ { inside = 1; next }
		inside && /^\)/ { inside = 0 }
		inside && $2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }
	' "$gomod")
	[ -n "$replaces" ] || die "no staging replace directives in $gomod"
	echo "$replaces"
}

# k8s_ldflags VERSION prints the linker flags that stamp VERSION into both
# version packages, as kubernetes' own build does.
k8s_ldflags() {
	local version=$1 major minor ldflags pkg
	major=${version#v}
	minor=${major#*.}
	minor=${minor%%.*}
	major=${major%%.*}
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$ldflags"
}

# k8s_build VERSION OUTDIR CMD... builds k8s.io/kubernetes/cmd/CMD at VERSION
# (v1.X.Y) into OUTDIR/CMD for each CMD, one at a time, and checks that each
# reports VERSION.
k8s_build() {
	local version=$1 out=$2
	shift 2
	local replaces ldflags cmd pkgs=() got
	replaces=$(k8s_replaces "$version") || return
	ldflags=$(k8s_ldflags "$version")
	for cmd in "$@"; do
		pkgs+=("k8s.io/kubernetes/cmd/$cmd")
	done
	# Built into a directory of their own first: only binaries that report
	# the version take their place in OUTDIR.
	mkdir -p "$out/.build"
	throwaway_build k8s.io/kubernetes "$version" "$out/.build" "$ldflags" "$replaces" "${pkgs[@]}" || return
	for cmd in "$@"; do
		got=$(k8s_version_of "$out/.build/$cmd")
		[ "$got" = "Kubernetes $version" ] || die "built $cmd reports '$got', want 'Kubernetes $version'"
		mv -f "$out/.build/$cmd" "$out/$cmd"
	done
	rmdir "$out/.build" 2>/dev/null || true
}

# k8s_build_e2e VERSION OUTDIR builds Kubernetes' end-to-end test binary
# (go test -c k8s.io/kubernetes/test/e2e) as OUTDIR/e2e.test and its test
# image's program k8s.io/kubernetes/test/images/agnhost as OUTDIR/agnhost,
# at VERSION, in a throwaway module. OUTDIR/e2e.version records VERSION once
# both are built.
k8s_build_e2e() {
	local version=$1 out=$2 replaces
	replaces=$(k8s_replaces "$version") || return
	rm -f "$out/e2e.version"
	throwaway_build k8s.io/kubernetes "$version" "$out" "$(k8s_ldflags "$version")" "$replaces" \
		k8s.io/kubernetes/test/images/agnhost test:k8s.io/kubernetes/test/e2e || return
	echo "$version" >"$out/e2e.version"
}
