package oci

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// makeStartFifo creates exec.fifo, on which the init waits for Start:
// opened by anyone else, it could stall Start or start the container, so
// only its owner may open it. It belongs to root until ownStartFifo gives
// it to the init's user.
func makeStartFifo(path string) error {
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("make %s: %w", path, err)
	}
	// The umask may have cleared bits of the mode.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// ownStartFifo gives exec.fifo to the host uid and gid that the init, pid,
// has when it opens the fifo: the process's user, seen through the id maps
// of the init's user namespace (the identity without one). The init has
// dropped to that user and maybe its capabilities by then. A user the maps
// do not have keeps the fifo root's: the init fails before it opens it.
func ownStartFifo(path string, pid int, u specs.User) error {
	uid, uidOK, err := hostID(pid, "uid_map", u.UID)
	if err != nil {
		return err
	}
	gid, gidOK, err := hostID(pid, "gid_map", u.GID)
	if err != nil {
		return err
	}
	if !uidOK || !gidOK || uid == 0 && gid == 0 {
		return nil
	}
	if err := os.Lchown(path, int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}

// hostID maps id of pid's user namespace to the caller's through
// /proc/<pid>/<file> (uid_map or gid_map).
func hostID(pid int, file string, id uint32) (int64, bool, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/" + file
	maps, err := user.ParseIDMapFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, fmt.Errorf("read %s: the init exited: %w", path, err)
		}
		return 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	for _, m := range maps {
		if int64(id) >= m.ID && int64(id)-m.ID < m.Count {
			return m.ParentID + int64(id) - m.ID, true, nil
		}
	}
	return 0, false, nil
}
