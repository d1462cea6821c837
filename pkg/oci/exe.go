package oci

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// sealedExe is the crisp binary as processes entering a container execute
// it. A process in a container can reach the binary through
// /proc/<pid>/exe while crisp's init runs there; it must not be able to
// write it (CVE-2019-5736). The binary is therefore executed from a detached,
// read-only bind mount of itself (open_tree + mount_setattr): opening it for
// writing fails with EROFS, whatever the container's capabilities, and no
// copy is made. Kernels without the new mount API get a sealed memfd copy.
type sealedExe struct {
	file *os.File
	// how says which defence is in use: "ro-mount" or "memfd".
	how string
}

func openSealedExe() (*sealedExe, error) {
	f, err := openReadOnlyExe("/proc/self/exe")
	if err == nil {
		return &sealedExe{file: f, how: "ro-mount"}, nil
	}
	klog.V(2).InfoS("Read-only bind mount of the crisp binary unavailable, copying it to a sealed memfd", "err", err)
	f, err = copySealedExe("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	return &sealedExe{file: f, how: "memfd"}, nil
}

// openReadOnlyExe returns a handle of path on a private read-only bind
// mount of it.
func openReadOnlyExe(path string) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("make binary mount read-only: %w", err)
	}
	return os.NewFile(uintptr(fd), "crisp-exe"), nil
}

// copySealedExe copies path into a memfd sealed against any change.
func copySealedExe(path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open crisp binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("crisp", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "crisp-memfd")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy crisp binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal crisp binary: %w", err)
	}
	return f, nil
}

// Close releases the binary's mount or copy.
func (e *sealedExe) Close() error { return e.file.Close() }

// sealed returns the runtime's sealed binary, made on first use.
func (r *Runtime) sealed() (*sealedExe, error) {
	r.exeOnce.Do(func() { r.exe, r.exeErr = openSealedExe() })
	return r.exe, r.exeErr
}

// spares returns the runtime's spares of exe, made on first use, or nil
// without Options.Spare.
func (r *Runtime) spares(exe *sealedExe) *spares {
	if !r.spare {
		return nil
	}
	r.sparesOnce.Do(func() { r.sparesReady = newSpares(exe) })
	return r.sparesReady
}
