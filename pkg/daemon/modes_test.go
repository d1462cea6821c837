package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/config"
)

// A daemon started under a umask of 0 leaves nothing in its root or state
// directory that another user could write, and no directory another user
// could list: state is root's alone.
func TestDaemonDirectoriesArePrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon mounts, pins namespaces and makes cgroups")
	}
	cgroupMount := ""
	for _, m := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			cgroupMount = m
			break
		}
	}
	if cgroupMount == "" {
		t.Skip("needs a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.GRPC.Address = "unix://" + filepath.Join(cfg.State, "crisp.sock")
	cfg.Cgroup.Mount = cgroupMount
	cfg.Cgroup.Driver = config.CgroupDriverCgroupfs
	cfg.Cgroup.MissingController = "warn"
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	cfg.Image.StorageDriver = "vfs"
	cfg.Image.SignaturePolicy = filepath.Join(dir, "policy.json")
	cfg.Image.RegistriesConf = filepath.Join(dir, "registries.conf")
	cfg.Image.RegistriesConfDir = filepath.Join(dir, "registries.conf.d")

	// The daemon serves once its socket is renamed into place.
	if err := os.Mkdir(cfg.State, 0o711); err != nil {
		t.Fatal(err)
	}
	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ino)
	if _, err := unix.InotifyAddWatch(ino, cfg.State, unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	// The pins' directory stays a mount point after the daemon stops, as
	// it does on a node.
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(cfg.State, "ns"), unix.MNT_DETACH) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	ready := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		_, err := unix.Read(ino, buf)
		ready <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	}
	// The state directory was made by the test: its mode is the test's.
	for _, root := range []string{cfg.Root, cfg.State} {
		var rootSt unix.Stat_t
		if err := unix.Lstat(root, &rootSt); err != nil {
			t.Fatal(err)
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			// The daemon still works: what it removed meanwhile (the
			// socket's private directory) cannot be open to anyone.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); errors.Is(err, unix.ENOENT) {
				return nil
			} else if err != nil {
				return err
			}
			if st.Dev != rootSt.Dev || st.Mode&unix.S_IFMT == unix.S_IFLNK {
				// A mount point, whose mode is its file system's, or a link.
				if d.IsDir() && st.Dev != rootSt.Dev {
					return filepath.SkipDir
				}
				return nil
			}
			mode := st.Mode & 0o7777
			if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
				// The CRI socket is its group's to dial.
				if mode&0o007 != 0 {
					t.Errorf("socket %s (mode %#o) is open to others", path, mode)
				}
				return nil
			}
			if mode&0o022 != 0 {
				t.Errorf("%s (mode %#o) is writable by group or others", path, mode)
			}
			if d.IsDir() && mode&0o004 != 0 {
				t.Errorf("directory %s (mode %#o) is readable by others", path, mode)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(cfg.Root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("root directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon stopped with %v", err)
	}
}
