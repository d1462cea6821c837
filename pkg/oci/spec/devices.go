package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// hostDevSkip are the entries of a /dev tree that are not devices to copy:
// file systems of their own, and nodes the container gets from its own
// devpts and terminal (runc's and containerd's list).
var hostDevSkip = map[string]bool{
	"pts": true, "shm": true, "fd": true, "mqueue": true, ".lxc": true, ".lxd-mounts": true, ".udev": true,
	"console": true, "ptmx": true,
}

// buildDevices returns the device nodes of the container and the cgroup
// rules that let it use them. The rules start with deny-all (the executor
// appends the standard devices after them). config.devices are stat'ed on
// the host; a directory brings every device below it, as in containerd. A
// privileged container gets every device of the host's /dev and may use
// any device.
func buildDevices(cds []*runtimeapi.Device, privileged bool) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	var devices []specs.LinuxDevice
	taken := map[string]bool{}
	for i, d := range cds {
		field := fmt.Sprintf("devices[%d]", i)
		if d == nil {
			return nil, nil, errdefs.InvalidField(field, "must be set")
		}
		access, err := devicePermissions(field+".permissions", d.GetPermissions())
		if err != nil {
			return nil, nil, err
		}
		dst := d.GetContainerPath()
		if !filepath.IsAbs(dst) {
			return nil, nil, errdefs.InvalidField(field+".container_path", fmt.Sprintf("%q is not an absolute path", dst))
		}
		dst = filepath.Clean(dst)
		// crisp's executor creates device nodes in the container's /dev only.
		if !strings.HasPrefix(dst, "/dev/") {
			return nil, nil, errdefs.InvalidField(field+".container_path", fmt.Sprintf("%s is not under /dev", dst))
		}
		src := d.GetHostPath()
		if !filepath.IsAbs(src) {
			return nil, nil, errdefs.InvalidField(field+".host_path", fmt.Sprintf("%q is not an absolute path", src))
		}
		found, err := devicesAt(src, dst)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, errdefs.InvalidField(field+".host_path", fmt.Sprintf("%s does not exist", src))
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s.host_path: %w", field, err)
		}
		if len(found) == 0 {
			return nil, nil, errdefs.InvalidField(field+".host_path", fmt.Sprintf("%s is not a device or a directory of devices", src))
		}
		for _, dev := range found {
			if taken[dev.Path] {
				return nil, nil, errdefs.InvalidField(field+".container_path", fmt.Sprintf("%s is already a device of the container", dev.Path))
			}
			taken[dev.Path] = true
			devices = append(devices, dev)
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: dev.Type, Major: ptrTo(dev.Major), Minor: ptrTo(dev.Minor), Access: access})
		}
	}
	if !privileged {
		return devices, rules, nil
	}
	host, err := devicesAt("/dev", "/dev")
	if err != nil {
		return nil, nil, fmt.Errorf("host devices: %w", err)
	}
	for _, dev := range host {
		if !taken[dev.Path] {
			devices = append(devices, dev)
		}
	}
	return devices, []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, nil
}

// devicePermissions checks a CRI permission string: letters of "rwm", each
// once. Empty means all.
func devicePermissions(field, perms string) (string, error) {
	if perms == "" {
		return "rwm", nil
	}
	seen := map[rune]bool{}
	for _, r := range perms {
		if !strings.ContainsRune("rwm", r) || seen[r] {
			return "", errdefs.InvalidField(field, fmt.Sprintf("%q is not a combination of r, w and m", perms))
		}
		seen[r] = true
	}
	return perms, nil
}

// devicesAt returns the device at src as dst, or, when src is a directory,
// every device below it at the same place below dst. Symlinks in a
// directory are not followed; src itself may be one (/dev/disk/by-id/...).
func devicesAt(src, dst string) ([]specs.LinuxDevice, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		dev, ok, err := deviceFromPath(src, dst, os.Stat)
		if err != nil || !ok {
			return nil, err
		}
		return []specs.LinuxDevice{dev}, nil
	}
	var devices []specs.LinuxDevice
	err = filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			// A node that vanished meanwhile (udev) is not an error.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if path != src && hostDevSkip[e.Name()] {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.IsDir() || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		dev, ok, err := deviceFromPath(path, filepath.Join(dst, rel), os.Lstat)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if ok {
			devices = append(devices, dev)
		}
		return nil
	})
	return devices, err
}

// deviceFromPath describes the node at path as the device dst: type,
// numbers, permissions and owner. ok is false when path is not a character
// or block device.
func deviceFromPath(path, dst string, stat func(string) (os.FileInfo, error)) (specs.LinuxDevice, bool, error) {
	fi, err := stat(path)
	if err != nil {
		return specs.LinuxDevice{}, false, err
	}
	st, isUnix := fi.Sys().(*syscall.Stat_t)
	if !isUnix {
		return specs.LinuxDevice{}, false, fmt.Errorf("stat %s: no device numbers", path)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, false, nil
	}
	return specs.LinuxDevice{
		Path:     dst,
		Type:     typ,
		Major:    int64(unix.Major(st.Rdev)),
		Minor:    int64(unix.Minor(st.Rdev)),
		FileMode: ptrTo(fi.Mode().Perm()),
		UID:      ptrTo(st.Uid),
		GID:      ptrTo(st.Gid),
	}, true, nil
}
