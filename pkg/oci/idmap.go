package oci

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
	"github.com/crisp-runtime/crisp/pkg/timerslack"
)

// checkIDMaps refuses idmapped mounts crisp cannot make: only bind
// mounts, in a container with a user namespace (new or joined by path) and
// a new mount namespace, whose caller opens and idmaps their sources before
// the init attaches them.
func checkIDMaps(spec *specs.Spec, plan nsPlan) error {
	ok := plan.has(specs.UserNamespace) && plan.isNew(specs.MountNamespace)
	for i, m := range spec.Mounts {
		if len(m.UIDMappings)+len(m.GIDMappings) == 0 {
			continue
		}
		field := fmt.Sprintf("mounts[%d].uidMappings", i)
		mo, _, _ := parseMountOptions(m.Options)
		switch {
		case m.Type != "bind" && mo.flags&unix.MS_BIND == 0:
			return errdefs.InvalidField(field, "only bind mounts are idmapped")
		case !ok:
			return fmt.Errorf("%s: idmapped mounts need a user namespace and a new mount namespace: %w", field, errdefs.ErrNotImplemented)
		case len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0:
			return errdefs.InvalidField(field, "an idmapped mount needs both uidMappings and gidMappings")
		}
	}
	return nil
}

// mountTrees are detached copies of the rootfs and of bind mount sources
// (open_tree(OPEN_TREE_CLONE)), opened by the caller with its rights and
// idmapped as the spec asks, that the init attaches where it would
// otherwise mount by path: in a user namespace the init may not reach the
// sources (a 0700 directory above them) and cannot idmap anything.
type mountTrees struct {
	root  *os.File
	binds map[int]*os.File // by index in spec.Mounts
}

func (t *mountTrees) Close() {
	if t.root != nil {
		t.root.Close()
	}
	for _, f := range t.binds {
		f.Close()
	}
}

// openMountTrees opens the trees for a container with a user namespace and
// a new mount namespace: the rootfs always, with its submounts (it reaches
// the init even where a directory above it is closed to the container's
// root, such as a 0700 bundle directory), and the bind mounts' sources
// (the init, as the namespace's root, may not reach them), the idmapped
// ones idmapped through a user namespace with their maps (the joined one
// when the maps are its own). Without open_tree (before Linux 5.2) it
// opens nothing and the init mounts by path, unless the namespace is
// joined or a mount is idmapped.
func openMountTrees(spec *specs.Spec, rootfs string, plan nsPlan, slack time.Duration) (_ *mountTrees, retErr error) {
	t := &mountTrees{binds: map[int]*os.File{}}
	if !plan.has(specs.UserNamespace) || !plan.isNew(specs.MountNamespace) {
		return t, nil
	}
	defer func() {
		if retErr != nil {
			t.Close()
		}
	}()
	var userns *os.File
	if path := plan.join[specs.UserNamespace]; path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open user namespace %s: %w", path, err)
		}
		defer f.Close()
		userns = f
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, rootfs, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if errors.Is(err, unix.ENOSYS) && userns == nil && !hasIDMappedMount(spec) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("root.path %s: open_tree: %w", rootfs, err)
	}
	t.root = os.NewFile(uintptr(fd), "rootfs-tree")
	// A copy of a shared mount (the rootfs under a systemd host's shared
	// /) is a peer of it, and pivot_root refuses a shared new root: the
	// copy is made private; the spec's rootfs propagation comes last.
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_PRIVATE})
	if err != nil && !errors.Is(err, unix.ENOSYS) {
		return nil, fmt.Errorf("root.path %s: make the copy private: %w", rootfs, err)
	}
	for i, m := range spec.Mounts {
		mo, _, err := parseMountOptions(m.Options)
		if err != nil {
			return nil, err
		}
		if m.Type != "bind" && mo.flags&unix.MS_BIND == 0 {
			continue
		}
		mapped := len(m.UIDMappings) > 0
		rec := mo.flags&unix.MS_REC != 0
		f, err := openBindTree(m.Source, rec)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
		t.binds[i] = f
		if err := detachPropagation(f, mo.propagation, rec); err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
		if !mapped {
			continue
		}
		through := userns
		if userns == nil || !sameMaps(m, spec) {
			// The mount's own maps: a user namespace made with them.
			ns, err := mappedUserNamespace(m.UIDMappings, m.GIDMappings, slack)
			if err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
			}
			defer ns.Close()
			through = ns
		}
		if err := idmapTree(f, through, rec); err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
	}
	return t, nil
}

// hasIDMappedMount reports whether a mount of spec asks to be idmapped.
func hasIDMappedMount(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
			return true
		}
	}
	return false
}

// sameMaps reports whether mount m's maps are the container's own.
func sameMaps(m specs.Mount, spec *specs.Spec) bool {
	return slices.Equal(m.UIDMappings, spec.Linux.UIDMappings) && slices.Equal(m.GIDMappings, spec.Linux.GIDMappings)
}

// mappedUserNamespace returns a user namespace with the given maps, to
// idmap a mount through. A short-lived crisp reaper (C, PID 1 of a new PID
// namespace) is started in it and killed once the namespace is open.
func mappedUserNamespace(uids, gids []specs.LinuxIDMapping, slack time.Duration) (*os.File, error) {
	cmd := exec.Command("/proc/self/exe")
	// The arguments only name the process in ps.
	cmd.Args = []string{"crisp", "idmap-userns"}
	cmd.Env = []string{nsenter.ReaperEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWPID,
		UidMappings: sysProcIDMap(uids),
		GidMappings: sysProcIDMap(gids),
		Pdeathsig:   unix.SIGKILL,
	}
	// Start returns once the maps are written.
	if err := timerslack.With(slack, cmd.Start); err != nil {
		return nil, fmt.Errorf("make a user namespace with the mount's maps: %w", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("open the user namespace with the mount's maps: %w", err)
	}
	return f, nil
}

// sysProcIDMap converts OCI id maps to the form os/exec writes.
func sysProcIDMap(maps []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(maps))
	for _, m := range maps {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	return out
}

// openBindTree opens a detached copy of the mount at src. As in the init,
// no symlink is followed: the daemon resolved them when it made the spec,
// so one found now was swapped in since.
func openBindTree(src string, recursive bool) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, src, &how)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("bind source %s: a symlink replaced part of it: %w", src, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bind source %s: %w", src, err)
	}
	defer unix.Close(fd)
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(fd, "", uint(flags))
	if err != nil {
		return nil, fmt.Errorf("bind source %s: open_tree: %w", src, err)
	}
	return os.NewFile(uintptr(tree), "bind-tree"), nil
}

// detachPropagation cuts the detached copy of a bind source off the
// source's peer group unless the mount asks to stay in it: a copy of a
// shared mount (anything under a systemd host's shared /) is a peer of it,
// and a mount the container then makes below it would appear on the host.
// A mount that asks to be a slave becomes one (it receives the host's
// mounts, sends none); one that asks to be shared stays a peer; any other
// becomes private, as a bind in the container's private root would be.
// The init applies the mount's propagation again once it is attached.
func detachPropagation(tree *os.File, propagation []uintptr, recursive bool) error {
	var set uint64 = unix.MS_PRIVATE
	for _, p := range propagation {
		switch {
		case p&unix.MS_SHARED != 0:
			return nil
		case p&unix.MS_SLAVE != 0:
			set = unix.MS_SLAVE
		}
	}
	flags := unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(int(tree.Fd()), "", uint(flags), &unix.MountAttr{Propagation: set})
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("bind source: this kernel lacks mount_setattr(2) (Linux 5.12) to cut a copied source off the host's mounts: %w", errdefs.ErrNotImplemented)
	}
	if err != nil {
		return fmt.Errorf("bind source: detach its propagation: %w", err)
	}
	return nil
}

// idmapTree makes the detached tree an idmapped mount through userns.
func idmapTree(tree, userns *os.File, recursive bool) error {
	flags := unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	err := unix.MountSetattr(int(tree.Fd()), "", uint(flags), attr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("idmapped mount: this kernel lacks mount_setattr(2) (Linux 5.12): %w", errdefs.ErrNotImplemented)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("idmapped mount: this kernel cannot idmap a mount of this %s file system: %w", fsName(tree), errdefs.ErrNotImplemented)
	default:
		return fmt.Errorf("idmapped mount: mount_setattr: %w", err)
	}
}

// fsName names the file system of f for an error.
func fsName(f *os.File) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}
