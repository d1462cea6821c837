package oci

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// mountFlag is one mount option word: it sets or clears a flag.
type mountFlag struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]mountFlag{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveAttr is one of the recursive mount option words (runc's "rro",
// "rnosuid", ...): attributes that mount_setattr(2) sets or clears on the
// mount and on every mount below it.
type recursiveAttr struct {
	set, clear uint64
}

var recursiveAttrs = map[string]recursiveAttr{
	"rro": {set: unix.MOUNT_ATTR_RDONLY}, "rrw": {clear: unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {set: unix.MOUNT_ATTR_NOSUID}, "rsuid": {clear: unix.MOUNT_ATTR_NOSUID},
	"rnodev": {set: unix.MOUNT_ATTR_NODEV}, "rdev": {clear: unix.MOUNT_ATTR_NODEV},
	"rnoexec": {set: unix.MOUNT_ATTR_NOEXEC}, "rexec": {clear: unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {set: unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {clear: unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow": {set: unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {clear: unix.MOUNT_ATTR_NOSYMFOLLOW},
	// The access time is one setting of three: each word clears the
	// others.
	"rrelatime":    {set: unix.MOUNT_ATTR_RELATIME, clear: unix.MOUNT_ATTR__ATIME},
	"rnoatime":     {set: unix.MOUNT_ATTR_NOATIME, clear: unix.MOUNT_ATTR__ATIME},
	"rstrictatime": {set: unix.MOUNT_ATTR_STRICTATIME, clear: unix.MOUNT_ATTR__ATIME},
}

// mountOptions is a parsed mount option list.
type mountOptions struct {
	flags       uintptr
	propagation []uintptr
	// recursive holds the recursive option words' attributes, applied
	// to the whole mounted tree once it is mounted.
	recursive recursiveAttr
	data      string
}

// parseMountOptions splits options into flags, propagation changes and the
// file-system specific data string.
func parseMountOptions(opts []string) (mountOptions, []string, error) {
	var mo mountOptions
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				mo.flags &^= f.flag
			} else {
				mo.flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			mo.propagation = append(mo.propagation, p)
			continue
		}
		if a, ok := recursiveAttrs[o]; ok {
			// A later word wins over an earlier one, as with the
			// flags.
			mo.recursive.set = mo.recursive.set&^a.clear | a.set
			mo.recursive.clear = mo.recursive.clear&^a.set | a.clear
			continue
		}
		if o == "" {
			return mo, nil, errdefs.InvalidField("option", "empty mount option")
		}
		data = append(data, o)
	}
	mo.data = strings.Join(data, ",")
	return mo, data, nil
}

// bindSourceIsDir reports whether the bind source src is a directory,
// resolving it as the init will (rootfs.c): a source is a path whose symlinks
// were resolved when the spec was made, and no symlink in it is followed.
// One swapped in since, by a container that shares the host directory,
// would otherwise lead the mount anywhere on the host.
func bindSourceIsDir(src string) (bool, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, src, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ELOOP {
		return false, fmt.Errorf("bind source %s: a component is a symlink; the source must be a resolved path: %w", src, err)
	}
	if err != nil {
		return false, fmt.Errorf("bind source %s: %w", src, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("bind source %s: %w", src, err)
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// compileMount compiles one of the spec's mounts, resolved inside the root
// by the init: no symlink in the root can lead a mount outside it.
func compileMount(p *program, i int, m specs.Mount, cfg *initConfig) error {
	mo, _, err := parseMountOptions(m.Options)
	if err != nil {
		return err
	}
	s := step{what: fmt.Sprintf("mounts[%d] (%s on %s)", i, m.Type, m.Destination)}
	dest := filepath.Clean(m.Destination)
	typ, src := m.Type, m.Source
	bind := mo.flags&unix.MS_BIND != 0 || typ == "bind"
	dir := true
	switch {
	case bind:
		if dir, err = bindSourceIsDir(src); err != nil {
			return err
		}
	case typ == "cgroup" || typ == "cgroup2":
		if !cfg.CgroupNS {
			// Without a cgroup namespace a fresh mount would show the
			// whole host hierarchy: bind the container's own cgroup.
			src, bind = cfg.CgroupDir, true
			mo.flags |= unix.MS_BIND | unix.MS_REC
		} else {
			typ, src = "cgroup2", "cgroup2"
		}
	}
	if !bind {
		fallback := ""
		switch typ {
		case "sysfs", "devpts":
			fallback = typ
		}
		p.add(nsenter.OpMountInRoot, s, dest, src, typ, num(mo.flags), mo.data, fallback)
	} else {
		if fd, ok := cfg.BindTreeFDs[i]; ok && src == m.Source {
			p.add(nsenter.OpAttachInRoot, s, dest, num(fd), boolArg(dir))
		} else {
			p.add(nsenter.OpBindInRoot, s, dest, src, boolArg(dir), boolArg(mo.flags&unix.MS_REC != 0))
		}
		if mo.flags&^(unix.MS_BIND|unix.MS_REC) != 0 {
			p.add(nsenter.OpRemountInRoot, s, dest, num(mo.flags))
		}
	}
	if mo.recursive != (recursiveAttr{}) {
		p.add(nsenter.OpSetattrInRoot, s, dest, num(mo.recursive.set), num(mo.recursive.clear))
	}
	for _, prop := range mo.propagation {
		p.add(nsenter.OpPropagateInRoot, s, dest, num(prop))
	}
	return nil
}

// RecursiveMountAttrsSupported reports whether the kernel has
// mount_setattr(2) (Linux 5.12), which the recursive mount options such as
// "rro" need. Without it a spec that uses them fails to create.
func RecursiveMountAttrsSupported() bool {
	// An invalid descriptor: EBADF from a kernel that knows the call.
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return err != unix.ENOSYS
}
