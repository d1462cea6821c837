package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// Wait blocks until the container's init has exited and returns how it
// ended. It works from any process: it waits for the container's monitor,
// which records the status before it exits.
func (r *Runtime) Wait(ctx context.Context, id string) (*ExitStatus, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, err
	}
	if err := waitGone(ctx, rec.Monitor); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	st := r.exitStatus(id)
	if st == nil {
		return nil, fmt.Errorf("container %s: its monitor recorded no exit status: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}

// waitGone waits until the process exits, whoever its parent is. A
// process that is the caller's child (a monitor reparented to a caller that
// is a child subreaper) is reaped, so that it does not stay a zombie.
//
// The wait takes no thread: the non-blocking pidfd is in Go's poller, which
// reports it readable when the process exits, so that a thousand waits
// cost a thousand parked goroutines rather than as many threads.
func waitGone(ctx context.Context, p proc.Ref) error { return waitPidfd(ctx, p, true) }

// waitPidfd waits for p's exit on a pidfd in Go's poller, reaping p when
// reapChild is set and p is the caller's child.
func waitPidfd(ctx context.Context, p proc.Ref, reapChild bool) error {
	fd, err := unix.PidfdOpen(p.Pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", p.Pid, err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	defer pidfd.Close()
	if reapChild {
		defer reap(fd)
	}
	if !p.Alive() {
		return nil // gone, or the pid was recycled before we opened it
	}
	// Without the poller the wait below would spin: a deadline is only
	// accepted by a file in it.
	if err := pidfd.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("pidfd %d is not pollable: %w", p.Pid, err)
	}
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return fmt.Errorf("pidfd %d: %w", p.Pid, err)
	}
	// A deadline in the past wakes the wait when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = pidfd.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	err = rc.Read(func(uintptr) bool { return exited(fd) })
	if err == nil || exited(fd) {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("wait for pid %d: %w", p.Pid, ctxErr)
	}
	return fmt.Errorf("wait on pidfd %d: %w", p.Pid, err)
}

// exited reports whether the process behind pidfd has exited: its pidfd
// is then readable.
func exited(pidfd int) bool {
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// reap collects the exit of the process behind pidfd if it is the caller's
// child and has exited; it does nothing otherwise (ECHILD, or not yet).
func reap(pidfd int) {
	var info unix.Siginfo
	_ = unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
}
