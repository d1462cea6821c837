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

// defaultDevices are created in every container with its own /dev.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devLinks are the symlinks of a container's /dev.
var devLinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"},
}

func checkDevice(field string, d specs.LinuxDevice) error {
	if !filepath.IsAbs(d.Path) || !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") {
		return errdefs.InvalidField(field+".path", fmt.Sprintf("%q is not under /dev", d.Path))
	}
	switch d.Type {
	case "c", "u", "b", "p":
	default:
		return errdefs.InvalidField(field+".type", fmt.Sprintf("%q is not one of c, u, b, p", d.Type))
	}
	return nil
}

// setupDevices creates the default devices (when the container has its own
// /dev) and the spec's. In a user namespace mknod is not allowed: devices
// are bind mounts of the host's nodes then.
func setupDevices(root *os.File, devices []specs.LinuxDevice, ownDev, userns bool) error {
	var all []specs.LinuxDevice
	if ownDev {
		all = append(all, defaultDevices...)
	}
	all = append(all, devices...)
	for _, d := range all {
		if err := createDevice(root, d, userns); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	if !ownDev {
		return nil
	}
	dev, err := openInRoot(root, "/dev")
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer dev.Close()
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[0], int(dev.Fd()), filepath.Base(l[1])); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	return nil
}

func createDevice(root *os.File, d specs.LinuxDevice, userns bool) error {
	if userns {
		return bindDevice(root, d)
	}
	parent, err := openInRoot(root, filepath.Dir(d.Path))
	if errors.Is(err, os.ErrNotExist) {
		parent, err = pathrs.MkdirAllHandle(root, filepath.Dir(d.Path), 0o755)
	}
	if err != nil {
		return err
	}
	defer parent.Close()
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		mode |= unix.S_IFCHR
	case "b":
		mode |= unix.S_IFBLK
	case "p":
		mode |= unix.S_IFIFO
	}
	name := filepath.Base(d.Path)
	_ = unix.Unlinkat(int(parent.Fd()), name, 0)
	if err := unix.Mknodat(int(parent.Fd()), name, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		// The device rules of the container's cgroup may deny mknod (m)
		// of this node: like runc, bind mount the host's node instead;
		// the rules still decide whether it can be opened.
		if errors.Is(err, unix.EPERM) {
			return bindDevice(root, d)
		}
		return fmt.Errorf("mknod: %w", err)
	}
	// mknod applies the umask: set the mode exactly.
	if err := unix.Fchmodat(int(parent.Fd()), name, mode&0o7777, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	uid, gid := -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid >= 0 || gid >= 0 {
		if err := unix.Fchownat(int(parent.Fd()), name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	return nil
}

// bindDevice bind mounts the host's node d.Path at d.Path in the container.
func bindDevice(root *os.File, d specs.LinuxDevice) error {
	target, err := openTarget(root, d.Path, false)
	if err != nil {
		return err
	}
	defer target.Close()
	return unix.Mount(d.Path, procFD(target), "", unix.MS_BIND, "")
}
