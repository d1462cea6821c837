package sandbox

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ShmFile is the pod's /dev/shm inside Sandbox.Dir: one tmpfs that every
// container of a pod with its own IPC namespace mounts, so that POSIX shared
// memory works between them as it does between processes of one host.
const ShmFile = "shm"

// shmSize is the size of a pod's /dev/shm, as other CRI runtimes give it.
const shmSize = 64 << 20

// mountShm mounts the pod's /dev/shm tmpfs at dir. In a pod with its own
// user namespace the tmpfs's root belongs to the pod's root, as a host's
// /dev/shm belongs to the host's: the mount is not idmapped, which a tmpfs
// allows only from Linux 6.3.
func mountShm(dir string, userns *UserNamespace) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create pod shm: %w", err)
	}
	data := fmt.Sprintf("mode=1777,size=%d", shmSize)
	if userns != nil {
		uid, _ := HostRoot(userns.UIDs)
		gid, _ := HostRoot(userns.GIDs)
		data += fmt.Sprintf(",uid=%d,gid=%d", uid, gid)
	}
	if err := unix.Mount("shm", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("mount pod shm at %s: %w", dir, err)
	}
	return nil
}

// unmountShm unmounts the pod's /dev/shm; a missing or unmounted one is fine.
// Containers hold their own bind mounts of it, so a lazy unmount suffices.
func unmountShm(dir string) error {
	for {
		err := unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			// Stacked mounts (an earlier, interrupted mount) go one by one.
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return fmt.Errorf("unmount pod shm %s: %w", dir, err)
		}
	}
}
