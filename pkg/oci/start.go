package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

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
		runHooksWarning(ctx, r.childSlack, id, "poststart", h.Poststart, st)
	}
	return nil
}

// awaitStartByte waits for the init to write its byte into the fifo and
// then for the fifo's end: the init closes it by executing the process,
// after the startContainer hooks.
//
// The fifo (non-blocking) waits in Go's poller, and so does the init's
// pidfd: an init that dies before it opens the fifo for writing leaves the
// fifo silent, and its exit wakes the wait instead.
func awaitStartByte(ctx context.Context, fd int, init proc.Ref) error {
	// The caller owns fd: the file gets a duplicate.
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup start fifo: %w", err)
	}
	fifo := os.NewFile(uintptr(dup), fifoFile)
	defer fifo.Close()
	// A deadline is only accepted by a file in the poller.
	if err := fifo.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("start fifo is not pollable: %w", err)
	}
	rc, err := fifo.SyscallConn()
	if err != nil {
		return fmt.Errorf("start fifo: %w", err)
	}
	// A deadline in the past wakes the wait when ctx ends or the init
	// exits.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(waitCtx, func() { _ = fifo.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	initDone := make(chan struct{})
	go func() {
		defer close(initDone)
		if waitExit(waitCtx, init) == nil {
			cancel()
		}
	}()
	defer func() { cancel(); <-initDone }()

	var s startWait
	err = rc.Read(func(uintptr) bool { return s.step(fd) })
	if err == nil || s.step(fd) {
		return s.err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if !init.Alive() {
		return fmt.Errorf("container init exited before start: %w", errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("wait on start fifo: %w", err)
}

// startWait follows the start fifo: the init's byte, then the fifo's end.
type startWait struct {
	started bool
	err     error
}

// step reads what the fifo holds now and reports whether the wait is over,
// with s.err its outcome.
func (s *startWait) step(fd int) bool {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			s.err = fmt.Errorf("poll start fifo: %w", err)
			return true
		}
		if n == 0 {
			// No writer yet, or the init has not written: a read would
			// see the end of a fifo no one has opened.
			return false
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			// Hung up without data: the write end closed.
			return s.end()
		}
		var b [1]byte
		n, err = unix.Read(fd, b[:])
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			s.err = fmt.Errorf("read start fifo: %w", err)
			return true
		case n == 0:
			// The write end closed: the process runs (or the init died).
			return s.end()
		}
		s.started = true
	}
}

// end settles the wait when the fifo's write end has closed.
func (s *startWait) end() bool {
	if !s.started {
		s.err = fmt.Errorf("container init exited before start: %w", errdefs.ErrFailedPrecondition)
	}
	return true
}

// waitExit waits in Go's poller until the process exits; it does not reap
// it, as its parent (the monitor) collects its status.
func waitExit(ctx context.Context, p proc.Ref) error { return p.Wait(ctx, false) }
