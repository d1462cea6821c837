package oci

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// Kill sends sig to the container's init or, with all, to every process in
// its cgroup.
func (r *Runtime) Kill(_ context.Context, id string, sig syscall.Signal, all bool) error {
	rec, err := r.loadCreated(id)
	if err != nil {
		return err
	}
	if all {
		cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath)
		if err != nil {
			return err
		}
		if sig == unix.SIGKILL {
			return cg.Kill()
		}
		pids, err := cg.Procs()
		if err != nil {
			return err
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("signal %d: %w", pid, err)
			}
		}
		return nil
	}
	if err := signalProc(rec.Init, sig); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

// signalProc signals a process through a pidfd, so that a recycled pid is
// never hit.
func signalProc(p proc.Ref, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(p.Pid, 0)
	if err == nil {
		defer unix.Close(fd)
	}
	if err != nil || !p.Alive() {
		return fmt.Errorf("process %d is not running: %w", p.Pid, errdefs.ErrFailedPrecondition)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %d: %w", p.Pid, err)
	}
	return nil
}
