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

// compileDevices creates the default devices (when the container has its
// own /dev) and the spec's. In a user namespace mknod is not allowed:
// devices are bind mounts of the host's nodes then.
func compileDevices(p *program, devices []specs.LinuxDevice, ownDev, userns bool) {
	var all []specs.LinuxDevice
	if ownDev {
		all = append(all, defaultDevices...)
	}
	all = append(all, devices...)
	for _, d := range all {
		s := step{what: "device " + d.Path}
		path := filepath.Clean(d.Path)
		if userns {
			p.add(nsenter.OpBindDevice, s, path)
			continue
		}
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
		uid, gid := int64(-1), int64(-1)
		if d.UID != nil {
			uid = int64(*d.UID)
		}
		if d.GID != nil {
			gid = int64(*d.GID)
		}
		p.add(nsenter.OpMknodInRoot, s, path, num(mode), num(d.Major), num(d.Minor), num(uid), num(gid))
	}
	if !ownDev {
		return
	}
	for _, l := range devLinks {
		p.add(nsenter.OpSymlinkInRoot, step{what: "symlink " + l[1]}, l[0], l[1])
	}
}
