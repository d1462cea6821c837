package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Options of the container's own file systems, as containerd and runc use.
var (
	devOptions   = []string{"nosuid", "strictatime", "mode=755", "size=65536k"}
	ptsOptions   = []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}
	shmOptions   = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}
	quietOptions = []string{"nosuid", "noexec", "nodev"}
)

// bindMountOptions are the mount_options a CRI mount may add to its bind:
// restrictions only, so that they cannot undo readonly or the propagation.
var bindMountOptions = map[string]bool{
	"ro": true, "nosuid": true, "nodev": true, "noexec": true,
	"noatime": true, "nodiratime": true, "relatime": true, "strictatime": true,
}

// buildMounts returns the container's mounts and the rootfs propagation
// its mounts need. The defaults come first (/proc, /dev, /dev/pts,
// /dev/shm, /dev/mqueue, /sys, /sys/fs/cgroup, the pod's files), then
// config.mounts sorted by depth so that a mount never hides a deeper one.
// A config mount replaces the defaults at or below its path, as in
// containerd: kubelet mounts its own /etc/hosts, or a bigger /dev/shm.
func buildMounts(c *Container) ([]specs.Mount, string, error) {
	user, propagation, err := configMounts(c.Config.GetMounts(), c.ImageVolumes, c.RecursiveReadOnly)
	if err != nil {
		return nil, "", err
	}
	if err := checkMountIDMappings(c); err != nil {
		return nil, "", err
	}
	covered := func(dst string) bool {
		for _, m := range user {
			if dst == m.Destination || strings.HasPrefix(dst, m.Destination+"/") {
				return true
			}
		}
		return false
	}
	var mounts []specs.Mount
	for _, m := range defaultMounts(c) {
		if !covered(m.Destination) {
			mounts = append(mounts, m)
		}
	}
	return append(mounts, user...), propagation, nil
}

// defaultMounts are the file systems every container gets, and the pod's
// files.
func defaultMounts(c *Container) []specs.Mount {
	privileged := c.Config.GetLinux().GetSecurityContext().GetPrivileged()
	readonly := c.Config.GetLinux().GetSecurityContext().GetReadonlyRootfs()
	// A privileged container may write /sys and its cgroup, as in containerd.
	sysMode := "ro"
	if privileged {
		sysMode = "rw"
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: quietOptions},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: devOptions},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: ptsOptions},
		shmMount(c.Pod),
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: quietOptions},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: append(slices.Clone(quietOptions), sysMode)},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append(slices.Clone(quietOptions), "relatime", sysMode)},
	}
	// The pod's files are shared by its containers: read-only in a
	// container whose root is, so that it cannot change them for the others.
	fileMode := "rw"
	if readonly {
		fileMode = "ro"
	}
	for _, f := range []struct{ dst, src string }{
		{"/etc/resolv.conf", c.Pod.ResolvConf}, {"/etc/hosts", c.Pod.Hosts}, {"/etc/hostname", c.Pod.Hostname},
	} {
		if f.src != "" {
			mounts = append(mounts, specs.Mount{Destination: f.dst, Type: "bind", Source: resolvedSource(f.src), Options: []string{"rbind", "rprivate", fileMode}})
		}
	}
	return mounts
}

// shmMount is the pod's /dev/shm, the host's for a pod on the host's IPC
// namespace (its System V and POSIX shared memory go together), or a
// private tmpfs.
func shmMount(pod Pod) specs.Mount {
	src := pod.ShmDir
	if src == "" && pod.IPCNS == "" {
		src = "/dev/shm"
	}
	if src == "" {
		return specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: shmOptions}
	}
	return specs.Mount{Destination: "/dev/shm", Type: "bind", Source: resolvedSource(src), Options: []string{"rbind", "rprivate", "nosuid", "nodev", "noexec", "rw"}}
}

// configMounts translates config.mounts into bind mounts sorted by depth,
// and returns the rootfs propagation they need: "rshared" for a
// bidirectional mount, "rslave" for host-to-container, else "" (the
// executor's default). imageVolumes are the sources of the image volumes
// by index. rro says the executor can make a mount recursively read-only.
func configMounts(cms []*runtimeapi.Mount, imageVolumes map[int]string, rro bool) ([]specs.Mount, string, error) {
	var mounts []specs.Mount
	rootfsPropagation := ""
	for i, m := range cms {
		field := fmt.Sprintf("mounts[%d]", i)
		if m == nil {
			return nil, "", errdefs.InvalidField(field, "must be set")
		}
		dst := m.GetContainerPath()
		if !filepath.IsAbs(dst) || filepath.Clean(dst) != dst {
			return nil, "", errdefs.InvalidField(field+".container_path", fmt.Sprintf("%q is not a clean absolute path", dst))
		}
		if dst == "/" {
			return nil, "", errdefs.InvalidField(field+".container_path", "cannot mount over the container's root")
		}
		for _, prev := range mounts {
			if prev.Destination == dst {
				return nil, "", errdefs.InvalidField(field+".container_path", fmt.Sprintf("%s is mounted twice", dst))
			}
		}
		var src string
		var err error
		if m.GetImage() != nil {
			src, err = imageVolume(field, m, imageVolumes[i])
		} else if m.GetImageSubPath() != "" {
			err = errdefs.InvalidField(field+".image_sub_path", "is only for an image volume")
		} else {
			src, err = hostPath(field+".host_path", m.GetHostPath())
		}
		if err != nil {
			return nil, "", err
		}
		if m.GetRecursiveReadOnly() {
			// As the CRI asks: read-only, and private, for a mount that
			// propagates from the host could bring a writable
			// submount in later.
			switch {
			case !rro:
				return nil, "", errdefs.InvalidField(field+".recursive_read_only", "this kernel lacks mount_setattr(2) (Linux 5.12), which recursive read-only mounts need")
			case !m.GetReadonly():
				return nil, "", errdefs.InvalidField(field+".recursive_read_only", "needs readonly too")
			case m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
				return nil, "", errdefs.InvalidField(field+".recursive_read_only", "needs propagation PROPAGATION_PRIVATE")
			}
		}
		opts := []string{"rbind"}
		switch p := m.GetPropagation(); p {
		case runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
			opts = append(opts, "rprivate")
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			if err := checkSourcePropagation(field, src, false); err != nil {
				return nil, "", err
			}
			opts = append(opts, "rslave")
			if rootfsPropagation == "" {
				rootfsPropagation = "rslave"
			}
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			if err := checkSourcePropagation(field, src, true); err != nil {
				return nil, "", err
			}
			opts = append(opts, "rshared")
			rootfsPropagation = "rshared"
		default:
			return nil, "", errdefs.InvalidField(field+".propagation", fmt.Sprintf("unknown propagation %d", p))
		}
		if m.GetReadonly() {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		if m.GetRecursiveReadOnly() {
			opts = append(opts, "rro")
		}
		for j, o := range m.GetMountOptions() {
			if !bindMountOptions[o] {
				return nil, "", errdefs.InvalidField(fmt.Sprintf("%s.mount_options[%d]", field, j), fmt.Sprintf("%q is not one of ro, nosuid, nodev, noexec, noatime, nodiratime, relatime, strictatime", o))
			}
			opts = append(opts, o)
		}
		// selinux_relabel is ignored: this host does not use SELinux and
		// crisp's executor does not label.
		mounts = append(mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts})
	}
	slices.SortStableFunc(mounts, func(a, b specs.Mount) int {
		return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
	})
	return mounts, rootfsPropagation, nil
}

// imageVolume checks an image volume (Kubernetes' image volume source):
// read-only, as the CRI requires of every image mount, and private, since
// an image's file system holds no mounts to propagate. src is its mounted
// source.
func imageVolume(field string, m *runtimeapi.Mount, src string) (string, error) {
	switch {
	case m.GetHostPath() != "":
		return "", errdefs.InvalidField(field+".host_path", "must be empty for an image volume")
	case !m.GetReadonly():
		return "", errdefs.InvalidField(field+".readonly", "an image volume is read-only: must be true")
	case m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		return "", errdefs.InvalidField(field+".propagation", "an image volume needs PROPAGATION_PRIVATE")
	case src == "":
		return "", fmt.Errorf("%s.image: the image volume is not mounted", field)
	}
	return src, nil
}

// hostPath checks a mount source: absolute and existing (kubelet creates
// the directories it mounts). Its symlinks are resolved on the host now, as
// containerd does: an admin may name a symlink in a hostPath volume. The
// spec carries the resolved path, and the executor follows no symlink in it
// (pkg/oci opens bind sources with RESOLVE_NO_SYMLINKS and mounts that
// handle), so a symlink swapped in later, by a container that shares the
// directory, makes the creation fail rather than mount what it points to.
// See "Mount sources" in docs/containers.md.
func hostPath(field, path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", errdefs.InvalidField(field, fmt.Sprintf("%q is not an absolute path", path))
	}
	resolved, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errdefs.InvalidField(field, fmt.Sprintf("%s does not exist", path))
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	if _, err := os.Stat(resolved); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return resolved, nil
}

// resolvedSource is a bind source of crisp's own (the pod's files, its
// /dev/shm) with its symlinks resolved, since the executor follows none: a
// state directory behind a symlink keeps working. A path that cannot be
// resolved is left for the executor to report.
func resolvedSource(path string) string {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		return resolved
	}
	return path
}

// checkSourcePropagation makes sure that the host mount holding src
// propagates to the container: shared for a bidirectional mount, shared or
// a slave for host-to-container. Otherwise the propagation kubelet asked
// for would silently not happen.
func checkSourcePropagation(field, src string, bidirectional bool) error {
	infos, err := mountinfo.GetMounts(mountinfo.ParentsFilter(src))
	if err != nil {
		return fmt.Errorf("%s: mount table: %w", field, err)
	}
	var holder *mountinfo.Info
	for _, info := range infos {
		if holder == nil || len(info.Mountpoint) > len(holder.Mountpoint) {
			holder = info
		}
	}
	if holder == nil {
		return fmt.Errorf("%s: no mount holds %s", field, src)
	}
	shared, slave := false, false
	for _, opt := range strings.Fields(holder.Optional) {
		shared = shared || strings.HasPrefix(opt, "shared:")
		slave = slave || strings.HasPrefix(opt, "master:")
	}
	switch {
	case bidirectional && !shared:
		return errdefs.InvalidField(field+".propagation", fmt.Sprintf("BIDIRECTIONAL needs %s to be on a shared mount; %s is not", src, holder.Mountpoint))
	case !bidirectional && !shared && !slave:
		return errdefs.InvalidField(field+".propagation", fmt.Sprintf("HOST_TO_CONTAINER needs %s to be on a shared or slave mount; %s is neither", src, holder.Mountpoint))
	}
	return nil
}
