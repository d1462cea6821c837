# shellcheck shell=bash
# The conformance images' /bin/sh: busybox's ash as upstream builds it.
# Debian's busybox (busybox-static) reverts upstream's commit 9c143ce5 for
# its installer, so its ash drops environment variables whose names are not
# identifiers (data-1), which the ConfigMap and Secret specs pass to
# `sh -c env`; other specs compare ash's own error messages ("can't
# create"). This builds busybox from Debian's source package of the
# installed release with its security fixes (the CVE-* patches) and none
# of its behaviour changes, static, and caches it. Sourced by
# hack/cluster/conformance.sh after hack/lib.sh.

# busybox_sh_build DEST builds the shell into DEST unless it is there,
# built from the same source version.
busybox_sh_build() {
	local dest=$1 version work
	apt_install busybox-static gcc make bzip2 xz-utils patch
	version=$(dpkg-query -W -f='${source:Version}' busybox-static)
	if [ -x "$dest" ] && [ "$(cat "$dest.version" 2>/dev/null)" = "$version" ]; then
		return 0
	fi
	log "building busybox $version's ash from its source package (about 3 minutes on 2 cores)"
	work=$(mktemp -d /var/tmp/crisp-busybox.XXXXXX)
	# The sources of the suites this machine installs from: its own
	# deb822 list, as deb-src, in a list and state of our own.
	mkdir -p "$work/lists/partial" "$work/src" "$work/parts"
	local sources=/etc/apt/sources.list.d/debian.sources
	[ -r "$sources" ] || die "no $sources to find Debian's source packages from"
	sed 's/^Types:.*/Types: deb-src/' "$sources" >"$work/parts/debian.sources"
	local apt=(apt-get -q -o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$work/parts"
		-o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
	"${apt[@]}" update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; die "apt-get update of the source lists failed"; }
	(cd "$work/src" && "${apt[@]}" source --download-only "busybox=$version") >>"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; die "could not download busybox's source package $version"; }
	local upstream=${version#*:}
	upstream=${upstream%%-*}
	tar -C "$work/src" -xjf "$work/src/busybox_$upstream.orig.tar.bz2"
	tar -C "$work/src" -xJf "$work/src/busybox_${version#*:}.debian.tar.xz"
	local tree=$work/src/busybox-$upstream p
	for p in "$work"/src/debian/patches/CVE-*; do
		[ -e "$p" ] || continue
		patch -d "$tree" -p1 -s <"$p" || die "could not apply $(basename "$p")"
	done
	# tc needs kernel headers this release no longer has; nothing uses it.
	(cd "$tree" && make -s defconfig >/dev/null &&
		sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config &&
		nice -n 10 make -s -j"$(nproc)" busybox >"$work/build.log" 2>&1) ||
		{ tail -n 30 "$work/build.log" >&2; die "busybox did not build"; }
	# The two behaviours the specs need, checked before it is used.
	local got
	got=$(env -i data-1=x "$tree/busybox" sh -c env) || die "the built busybox's sh does not run"
	grep -qx 'data-1=x' <<<"$got" || die "the built busybox's sh drops data-1 from the environment"
	mkdir -p "$(dirname "$dest")"
	install -m 0755 "$tree/busybox" "$dest.new"
	mv -f "$dest.new" "$dest"
	echo "$version" >"$dest.version"
	rm -rf "$work"
}
