package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// checkLogPath checks config.log_path on its own: a path relative to the
// pod's log directory that stays inside it.
func checkLogPath(rel string) error {
	if rel == "" {
		return nil
	}
	if strings.ContainsRune(rel, 0) || !filepath.IsLocal(rel) {
		return errdefs.InvalidField("log_path", fmt.Sprintf("%q is not a path inside the pod's log directory", rel))
	}
	return nil
}

// prepareLogPath makes the directories of the log file rel inside the
// pod's log directory dir and returns the file's path and an O_PATH handle
// on the directory it is in, which the caller closes. The container's
// monitor opens the file by its name in that handle (without following a
// symlink in its place), so a directory swapped for a symlink after this
// walk cannot move the log.
// The directories are walked and made one at a time relative to the one
// above, never following a symlink: the log file lands inside dir, not
// wherever a symlink planted in it points. A file already at the path must
// be a regular file. The file itself is left to the monitor to create.
func prepareLogPath(dir, rel string) (string, *os.File, error) {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || strings.ContainsRune(dir, 0) {
		return "", nil, errdefs.InvalidField("log_directory", fmt.Sprintf("%q is not a clean absolute path", dir))
	}
	if err := checkLogPath(rel); err != nil {
		return "", nil, err
	}
	if rel == "" {
		return "", nil, errdefs.InvalidField("log_path", "must not be empty")
	}
	// The log directory itself is the request's to name; kubelet has
	// usually made it already.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create log directory: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open log directory %s: %w", dir, err)
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	if parent := filepath.Dir(rel); parent != "." {
		for _, name := range strings.Split(parent, "/") {
			next, err := openLogSubdir(fd, name)
			if errors.Is(err, unix.ENOTDIR) {
				return "", nil, errdefs.InvalidField("log_path", fmt.Sprintf("%q: %s in %s is a symlink or not a directory", rel, name, dir))
			}
			if err != nil {
				return "", nil, fmt.Errorf("log_path %q: %w", rel, err)
			}
			unix.Close(fd)
			fd = next
		}
	}
	var st unix.Stat_t
	err = unix.Fstatat(fd, filepath.Base(rel), &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return "", nil, fmt.Errorf("log_path %q: %w", rel, err)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return "", nil, errdefs.InvalidField("log_path", fmt.Sprintf("%q exists in %s and is not a regular file", rel, dir))
	}
	handle := os.NewFile(uintptr(fd), filepath.Join(dir, filepath.Dir(rel)))
	fd = -1
	return filepath.Join(dir, rel), handle, nil
}

// openLogSubdir opens, making it if needed, the directory name below dirfd,
// as an O_PATH handle. A symlink is not followed: it fails with ENOTDIR.
func openLogSubdir(dirfd int, name string) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := unix.Mkdirat(dirfd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create %s: %w", name, err)
		}
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", name, err)
	}
	return fd, nil
}
