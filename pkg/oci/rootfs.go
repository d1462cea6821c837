package oci

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// setupRootfs prepares the container's root file system in its new mount
// namespace and makes it the root: propagation, bind of the rootfs, the
// spec's mounts, devices, hooks, pivot_root, masked and read-only paths.
func setupRootfs(conn *syncConn, cfg *initConfig) error {
	spec := cfg.Spec
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := spec.Linux.RootfsPropagation; p != "" {
		var ok bool
		if prop, ok = propagationFlags[p]; !ok {
			return fmt.Errorf("linux.rootfsPropagation: unknown propagation %q", p)
		}
	}
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("linux.rootfsPropagation: %w", err)
	}
	if prop&unix.MS_SHARED != 0 {
		// pivot_root refuses a new root whose parent mount is shared.
		if err := makeParentPrivate(cfg.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind root.path %s: %w", cfg.Rootfs, err)
	}
	root, err := os.OpenFile(cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root.path: %w", err)
	}
	defer root.Close()
	devMounted := false
	for i, m := range spec.Mounts {
		if err := mountEntry(root, m, cfg); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" {
			devMounted = true
		}
	}
	if err := setupDevices(root, spec.Linux.Devices, devMounted, cfg.UserNS); err != nil {
		return err
	}
	if err := createHooks(conn, cfg); err != nil {
		return err
	}
	if cfg.NoPivot {
		err = moveRoot(cfg.Rootfs)
	} else if err = pivotRoot(cfg.Rootfs); errors.Is(err, unix.EINVAL) {
		// The initial ramfs cannot be pivoted away from.
		err = moveRoot(cfg.Rootfs)
	}
	if err != nil {
		return err
	}
	if spec.Linux.RootfsPropagation != "" {
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: %w", err)
		}
	}
	if err := setupNamespaced(spec); err != nil {
		return err
	}
	for i, p := range spec.Linux.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %s: %w", i, p, err)
		}
	}
	for i, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %s: %w", i, p, err)
		}
	}
	if spec.Root.Readonly {
		if err := remountPath("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

// createHooks lets the parent run the prestart and createRuntime hooks,
// then runs the createContainer hooks, in the container's namespaces
// before pivot_root.
func createHooks(conn *syncConn, cfg *initConfig) error {
	if err := conn.send(&message{Type: msgHooks}); err != nil {
		return err
	}
	if m, err := conn.expect(); err != nil {
		return err
	} else if m.Type != msgResume {
		return fmt.Errorf("sync: unexpected message %q", m.Type)
	}
	if h := cfg.Spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		return runHooks(context.Background(), "createContainer", h.CreateContainer, cfg.State)
	}
	return nil
}

// pivotRoot makes rootfs the root and detaches the old one, without a
// temporary directory: pivot_root(".", ".") stacks the old root on the new.
func pivotRoot(rootfs string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open root.path: %w", err)
	}
	defer unix.Close(newRoot)
	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("chdir root.path: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("chdir old root: %w", err)
	}
	// Never let the unmount propagate to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// moveRoot moves rootfs over / and chroots into it, for roots that cannot
// be pivoted (ramfs) or when the caller asks for no pivot.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir root.path: %w", err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root.path to /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// makeParentPrivate makes the mount holding path private.
func makeParentPrivate(path string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
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
	if err := unix.Mount("", best, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", best, err)
	}
	return nil
}
