package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// openLogDir returns a handle on the directory of opts.LogPath for the
// monitor: a duplicate of opts.LogDir, or the directory opened by path.
func openLogDir(opts CreateOptions) (*os.File, error) {
	if opts.LogDir != nil {
		fd, err := unix.FcntlInt(opts.LogDir.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("log directory of %s: %w", opts.LogPath, err)
		}
		return os.NewFile(uintptr(fd), opts.LogDir.Name()), nil
	}
	dir := filepath.Dir(opts.LogPath)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open container log %s: its directory: %w", opts.LogPath, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// ReopenLog makes the monitor of a container created with a LogPath reopen
// it, after the kubelet renamed it to rotate it, and waits until the new
// file exists. Lines written meanwhile land in the renamed file; none is
// lost.
func (r *Runtime) ReopenLog(ctx context.Context, id string) error {
	rec, err := r.loadCreated(id)
	if err != nil {
		return err
	}
	if rec.LogPath == "" {
		return fmt.Errorf("container %s has no log: %w", id, errdefs.ErrFailedPrecondition)
	}
	if err := signalProc(rec.Monitor, unix.SIGUSR1); err != nil {
		return fmt.Errorf("container %s: reopen log: %w", id, err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		// Lstat: the monitor never follows a symlink at the log path
		// and opens only a regular file, so neither counts as reopened.
		fi, err := os.Lstat(rec.LogPath)
		if err == nil {
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("container %s: reopen log: %s is not a regular file: %w", id, rec.LogPath, errdefs.ErrFailedPrecondition)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("container %s: reopen log: %w", id, err)
		}
		if !rec.Monitor.Alive() {
			return fmt.Errorf("container %s: its monitor exited before reopening %s: %w", id, rec.LogPath, errdefs.ErrFailedPrecondition)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s: reopen log: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}
