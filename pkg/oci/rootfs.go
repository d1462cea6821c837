package oci

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
)

// compileRootfs compiles the container's root file system and the switch
// to it: propagation, bind of the rootfs, the spec's mounts, devices,
// hooks, pivot_root, masked and read-only paths.
//
// In a mount namespace that is not the container's own (joined by path, or
// the runtime's, inherited when linux.namespaces lists none), the mounts
// are made under a private bind of the rootfs, entered with chroot
// (pivot_root would move the root of every process of the namespace) and
// finally detached from the namespace: they live as long as the
// container's processes, and no one else sees them.
func compileRootfs(p *program, cfg *initConfig) error {
	spec := cfg.Spec
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if v := spec.Linux.RootfsPropagation; v != "" {
		var ok bool
		if prop, ok = propagationFlags[v]; !ok {
			return errdefs.InvalidField("linux.rootfsPropagation", fmt.Sprintf("unknown propagation %q", v))
		}
	}
	propagation := step{what: "linux.rootfsPropagation"}
	switchRoot := "0"
	root := cfg.Rootfs // how the init names the root until it switches to it
	switch {
	case cfg.SharedMountNS:
		switchRoot = "2"
		p.add(nsenter.OpSharedRoot, step{what: "bind root.path " + cfg.Rootfs}, cfg.Rootfs)
	default:
		if cfg.NoPivot {
			switchRoot = "1"
		}
		// An unbindable root cannot be bound onto itself: until
		// pivot_root the mounts are private, then unbindable.
		first := prop
		if prop&unix.MS_UNBINDABLE != 0 {
			first = prop&unix.MS_REC | unix.MS_PRIVATE
		}
		p.add(nsenter.OpMount, propagation, "", "/", "", num(first), "")
		if prop&unix.MS_SHARED != 0 {
			// pivot_root refuses a new root whose parent mount is shared.
			parent, err := parentMount(cfg.Rootfs)
			if err != nil {
				return err
			}
			if cfg.RootTreeFD >= 0 {
				parent = "/" // the attached copy is stacked on it
			}
			p.add(nsenter.OpMount, step{what: "make " + parent + " private"}, "", parent, "", num(uintptr(unix.MS_PRIVATE)), "")
		}
		if cfg.RootTreeFD >= 0 {
			// The init's working directory is the root from here on;
			// without pivot_root, it is already on /: chroot enters it.
			root = "."
			if cfg.NoPivot {
				switchRoot = "2"
			}
			p.add(nsenter.OpAttachRoot, step{what: "attach root.path " + cfg.Rootfs}, num(cfg.RootTreeFD))
		} else {
			p.add(nsenter.OpMount, step{what: "bind root.path " + cfg.Rootfs}, cfg.Rootfs, cfg.Rootfs, "", num(uintptr(unix.MS_BIND|unix.MS_REC)), "")
		}
	}
	p.add(nsenter.OpOpenRoot, step{what: "open root.path"}, root)
	devMounted := false
	for i, m := range spec.Mounts {
		if err := compileMount(p, i, m, cfg); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" {
			devMounted = true
		}
	}
	compileDevices(p, spec.Linux.Devices, devMounted, cfg.UserNS)
	if err := compileCreateHooks(p, cfg); err != nil {
		return err
	}
	p.add(nsenter.OpPivotRoot, step{what: "switch to root.path"}, root, switchRoot)
	compileNamespaced(p, spec)
	for i, path := range spec.Linux.MaskedPaths {
		p.add(nsenter.OpMaskPath, step{what: fmt.Sprintf("linux.maskedPaths[%d] %s", i, path)}, path)
	}
	for i, path := range spec.Linux.ReadonlyPaths {
		p.add(nsenter.OpReadonlyPath, step{what: fmt.Sprintf("linux.readonlyPaths[%d] %s", i, path)}, path)
	}
	if spec.Root.Readonly {
		p.add(nsenter.OpRemount, step{what: "root.readonly"}, "/", num(uintptr(unix.MS_RDONLY)))
	}
	// Last: masked and read-only paths bind from mounts that must not be
	// unbindable yet.
	if spec.Linux.RootfsPropagation != "" {
		p.add(nsenter.OpMount, propagation, "", "/", "", num(prop), "")
	}
	if cfg.SharedMountNS {
		p.add(nsenter.OpDetachRoot, step{what: "detach root.path from the shared mount namespace"})
	}
	return nil
}

// compileCreateHooks lets the parent run the prestart and createRuntime
// hooks, then runs the createContainer hooks, in the container's namespaces
// before pivot_root.
func compileCreateHooks(p *program, cfg *initConfig) error {
	p.add(nsenter.OpHooksSync, step{what: "hooks"})
	if h := cfg.Spec.Hooks; h != nil {
		return compileHooks(p, "createContainer", h.CreateContainer, cfg.State)
	}
	return nil
}

// parentMount returns the mount point holding path. The container's mount
// namespace is a copy of the caller's, so the caller's mount table answers.
func parentMount(path string) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	best := "/"
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return best, nil
}
