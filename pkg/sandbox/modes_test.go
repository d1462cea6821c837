package sandbox

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// checkPrivate walks root without crossing into other file systems (a
// pod's shm tmpfs, a pin's nsfs) and reports any file or directory that
// another user could write, and any directory another user could enter.
func checkPrivate(t *testing.T, root string) {
	t.Helper()
	var rootSt unix.Stat_t
	if err := unix.Lstat(root, &rootSt); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Dev != rootSt.Dev {
			// A mount point: its mode is its file system's.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		mode := st.Mode & 0o7777
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil
		}
		if mode&0o022 != 0 {
			t.Errorf("%s (mode %#o) is writable by group or others", path, mode)
		}
		// Nothing a container's user reaches goes through these
		// directories: the pod's files and pins are bind-mounted by root.
		if d.IsDir() && mode&0o007 != 0 {
			t.Errorf("directory %s (mode %#o) is open to others", path, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A running pod's state (its directory, files and pins) is private to
// root, even under a umask of 0; the files bind-mounted into containers
// stay readable.
func TestPodStateIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	e := newEnv(t)
	sb, err := e.m.Run(context.Background(), podSpec("private"))
	if err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, e.state)
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(sb.Dir, HostsFile), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o444 != 0o444 {
		t.Errorf("the pod's hosts file (mode %#o) is not readable by a container's user", st.Mode&0o7777)
	}
}
