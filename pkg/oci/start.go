package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// Start runs the process of a created container and its poststart hooks.
func (r *Runtime) Start(ctx context.Context, id string) error {
	rec, err := r.loadCreated(id)
	if err != nil {
		return err
	}
	if st := r.status(rec); st != StatusCreated {
		return fmt.Errorf("container %s is %s, not created: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	fifoPath := filepath.Join(r.dir(id), fifoFile)
	// Non-blocking, so that a dead init cannot hang Start; the init's
	// blocking open for writing completes against this reader.
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("container %s was started already: %w", id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("open %s: %w", fifoPath, err)
	}
	defer unix.Close(fd)
	if err := awaitStartByte(ctx, fd, rec.Init); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if err := os.Remove(fifoPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", fifoPath, err)
	}
	if h := rec.Config.Hooks; h != nil && len(h.Poststart) > 0 {
		// The process may have exited already; the hooks still learn
		// which process was started.
		st := &specs.State{Version: specs.Version, ID: id, Status: specs.StateRunning, Pid: rec.Init.Pid, Bundle: rec.Bundle, Annotations: rec.Config.Annotations}
		// The container runs already: a failing poststart hook is only
		// logged, as the runtime spec requires.
		if err := runHooks(ctx, "poststart", h.Poststart, st); err != nil {
			klog.ErrorS(err, "Poststart hook failed", "id", id)
		}
	}
	return nil
}

// awaitStartByte waits for the init to write its byte into the fifo and
// then for the fifo's end: the init closes it by executing the process,
// after the startContainer hooks.
func awaitStartByte(ctx context.Context, fd int, init proc.Ref) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	started := false
	for {
		n, err := unix.Poll(fds, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll start fifo: %w", err)
		}
		if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
			var b [1]byte
			n, err := unix.Read(fd, b[:])
			if err != nil {
				return fmt.Errorf("read start fifo: %w", err)
			}
			if n == 0 {
				// The write end closed: the process runs (or the init died).
				if !started {
					return fmt.Errorf("container init exited before start: %w", errdefs.ErrFailedPrecondition)
				}
				return nil
			}
			started = true
			continue
		}
		if n > 0 {
			if started {
				return nil
			}
			return fmt.Errorf("container init exited before start: %w", errdefs.ErrFailedPrecondition)
		}
		if !started && !init.Alive() {
			return fmt.Errorf("container init exited before start: %w", errdefs.ErrFailedPrecondition)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
