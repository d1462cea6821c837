package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Wait blocks until the process exits, whoever its parent is, or ctx ends.
// A process that is gone already, or whose pid now names another process,
// has exited. With reapChild, a process that is the caller's child is
// reaped, so that it does not stay a zombie; leave it unset when another
// goroutine waits for the child (os/exec's Wait).
//
// The wait takes no thread: the non-blocking pidfd is in Go's poller, which
// reports it readable when the process exits, so that a thousand waits
// cost a thousand parked goroutines rather than as many threads.
func (r Ref) Wait(ctx context.Context, reapChild bool) error {
	fd, err := unix.PidfdOpen(r.Pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", r.Pid, err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	defer pidfd.Close()
	if reapChild {
		defer reap(fd)
	}
	if !r.Alive() {
		return nil // gone, or the pid was recycled before we opened it
	}
	// Without the poller the wait below would spin: a deadline is only
	// accepted by a file in it.
	if err := pidfd.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("pidfd %d is not pollable: %w", r.Pid, err)
	}
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return fmt.Errorf("pidfd %d: %w", r.Pid, err)
	}
	// A deadline in the past wakes the wait when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = pidfd.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	err = rc.Read(func(uintptr) bool { return exited(fd) })
	if err == nil || exited(fd) {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("wait for pid %d: %w", r.Pid, ctxErr)
	}
	return fmt.Errorf("wait on pidfd %d: %w", r.Pid, err)
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
