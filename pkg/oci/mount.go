package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
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

// mountOptions is a parsed mount option list.
type mountOptions struct {
	flags       uintptr
	propagation []uintptr
	data        string
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
		if o == "" {
			return mo, nil, errdefs.InvalidField("option", "empty mount option")
		}
		data = append(data, o)
	}
	mo.data = strings.Join(data, ",")
	return mo, data, nil
}

// procFD names an open handle for mount(2), which follows the magic link.
func procFD(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// openTarget resolves a mount destination inside the root, creating it as a
// directory or an empty file. No symlink can lead outside the root: every
// component is resolved with openat2(RESOLVE_IN_ROOT) or its emulation.
func openTarget(root *os.File, dest string, dir bool) (*os.File, error) {
	f, err := openInRoot(root, dest)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if dir {
		return pathrs.MkdirAllHandle(root, dest, 0o755)
	}
	parent, err := pathrs.MkdirAllHandle(root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	if err == nil {
		unix.Close(fd)
	}
	return openInRoot(root, dest)
}

// openInRoot opens an O_PATH handle of path resolved inside root: one
// openat2(RESOLVE_IN_ROOT), the kernel's own containment of symlinks and
// "..". Creation of missing components is left to pathrs-lite.
func openInRoot(root *os.File, path string) (*os.File, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for {
		fd, err := unix.Openat2(int(root.Fd()), path, how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue // a concurrent rename; openat2 asks to retry
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// mountEntry performs one of the spec's mounts inside the root.
func mountEntry(root *os.File, m specs.Mount, cfg *initConfig) error {
	mo, _, err := parseMountOptions(m.Options)
	if err != nil {
		return err
	}
	typ, src := m.Type, m.Source
	bind := mo.flags&unix.MS_BIND != 0 || typ == "bind"
	dir := true
	switch {
	case bind:
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		dir = fi.IsDir()
	case typ == "cgroup" || typ == "cgroup2":
		if !cfg.CgroupNS {
			// Without a cgroup namespace a fresh mount would show the
			// whole host hierarchy: bind the container's own cgroup.
			src, bind, typ = cfg.CgroupDir, true, ""
			mo.flags |= unix.MS_BIND | unix.MS_REC
		} else {
			typ, src = "cgroup2", "cgroup2"
		}
	}
	target, err := openTarget(root, m.Destination, dir)
	if err != nil {
		return fmt.Errorf("mount target: %w", err)
	}
	defer target.Close()
	if !bind {
		err := unix.Mount(src, procFD(target), typ, mo.flags, mo.data)
		switch {
		case err == nil:
		case typ == "sysfs" && errors.Is(err, unix.EPERM):
			// sysfs needs a network namespace owned by our user
			// namespace; otherwise bind the host's, read-only.
			if err := unix.Mount("/sys", procFD(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("bind /sys: %w", err)
			}
			return remount(root, m.Destination, mo.flags|unix.MS_RDONLY)
		case typ == "devpts" && errors.Is(err, unix.EINVAL) && strings.Contains(mo.data, "gid="):
			// The tty group may be unmapped in a user namespace.
			if err := unix.Mount(src, procFD(target), typ, mo.flags, dropOption(mo.data, "gid=")); err != nil {
				return err
			}
		default:
			return err
		}
	} else {
		if err := unix.Mount(src, procFD(target), "", unix.MS_BIND|(mo.flags&unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		if mo.flags&^(unix.MS_BIND|unix.MS_REC) != 0 {
			if err := remount(root, m.Destination, mo.flags); err != nil {
				return err
			}
		}
	}
	for _, p := range mo.propagation {
		mnt, err := openInRoot(root, m.Destination)
		if err != nil {
			return err
		}
		err = unix.Mount("", procFD(mnt), "", p, "")
		mnt.Close()
		if err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
	}
	return nil
}

// remount applies flags to the bind mount now at dest, keeping the flags
// that a user namespace locks on it.
func remount(root *os.File, dest string, flags uintptr) error {
	mnt, err := openInRoot(root, dest)
	if err != nil {
		return err
	}
	defer mnt.Close()
	return remountPath(procFD(mnt), flags)
}

// remountPath is remount for a path outside any root handle.
func remountPath(path string, flags uintptr) error {
	flags = flags&^(unix.MS_REC|unix.MS_REMOUNT) | unix.MS_BIND | unix.MS_REMOUNT
	err := unix.Mount("", path, "", flags, "")
	if errors.Is(err, unix.EPERM) {
		var st unix.Statfs_t
		if serr := unix.Statfs(path, &st); serr == nil {
			flags |= lockedFlags(st.Flags)
			err = unix.Mount("", path, "", flags, "")
		}
	}
	if err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// lockedFlags are the statfs flags a less privileged mount namespace may not
// clear.
func lockedFlags(st int64) uintptr {
	var f uintptr
	for _, m := range []struct {
		st   int64
		flag uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if st&m.st != 0 {
			f |= m.flag
		}
	}
	return f
}

func dropOption(data, prefix string) string {
	var kept []string
	for _, o := range strings.Split(data, ",") {
		if !strings.HasPrefix(o, prefix) {
			kept = append(kept, o)
		}
	}
	return strings.Join(kept, ",")
}
