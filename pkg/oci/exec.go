package oci

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// ExecOptions are the caller's choices for Exec.
type ExecOptions struct {
	// ConsoleSocket receives the pseudo-terminal's master when the
	// process has a terminal.
	ConsoleSocket string
	// Stdin, Stdout and Stderr are the process's stdio without a
	// terminal; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Detach makes the process's monitor independent of the caller; the
	// exit status is then not available.
	Detach bool
	// ExtraFiles are open files the process gets as descriptors 3 and up
	// (runc's --preserve-fds); every other descriptor is closed on exec.
	ExtraFiles []*os.File
}

// Process is a process started by Exec.
type Process struct {
	// Pid is the process's pid in the caller's pid namespace.
	Pid int

	cmd  *spawned
	init proc.Ref
}

// Wait waits for the process and returns how it ended. The monitor exits
// with the process's code (128 plus the signal for a killed process).
func (p *Process) Wait() (*ExitStatus, error) {
	if p.cmd == nil {
		return nil, fmt.Errorf("process %d is detached: %w", p.Pid, errdefs.ErrFailedPrecondition)
	}
	ws, err := p.cmd.wait()
	if err != nil {
		return nil, fmt.Errorf("wait for process %d: %w", p.Pid, err)
	}
	code := exitCode(ws)
	st := &ExitStatus{Code: code}
	if code > 128 && code < 128+65 {
		st.Signal = syscall.Signal(code - 128)
	}
	return st, nil
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return signalProc(p.init, sig) }

// Exec runs an additional process in a created or running container: it
// joins all of the container's namespaces and its cgroup.
func (r *Runtime) Exec(ctx context.Context, id string, proc *specs.Process, opts ExecOptions) (*Process, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, err
	}
	switch st := r.status(rec); st {
	case StatusCreated, StatusRunning:
	default:
		return nil, fmt.Errorf("container %s is %s: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	if err := validateProcess("process", proc); err != nil {
		return nil, err
	}
	if proc.Terminal && opts.ConsoleSocket == "" {
		return nil, errdefs.InvalidField("process.terminal", "a terminal needs a console socket")
	}
	exe, err := r.sealed()
	if err != nil {
		return nil, err
	}
	cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath)
	if err != nil {
		return nil, err
	}
	var extra []*os.File
	if proc.Terminal {
		console, err := dialConsole(opts.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer console.Close()
		extra = append(extra, console)
	}
	l := &launch{
		exe: exe, ns: execPlan(rec.Config.Linux.Namespaces, rec.Init.Pid), cgroup: cg, detach: opts.Detach,
		extra: extra, preserve: opts.ExtraFiles, stdio: [3]*os.File{opts.Stdin, opts.Stdout, opts.Stderr},
		slack: r.childSlack,
	}
	p, err := l.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	cfg := &initConfig{
		ID: id, Bundle: rec.Bundle, Rootfs: rec.Rootfs, Spec: rec.Config, Process: proc, Exec: true,
		StateDirFD: -1, ConsoleFD: -1, PreservedFDs: len(opts.ExtraFiles),
	}
	if plan, err := planNamespaces(rec.Config.Linux.Namespaces); err == nil && !plan.isNew(specs.MountNamespace) {
		// The container's root is its init's, not the namespace's.
		cfg.SharedMountNS = true
		cfg.Rootfs = "/proc/" + strconv.Itoa(rec.Init.Pid) + "/root"
	}
	if proc.Terminal {
		cfg.ConsoleFD = p.extraFD
	}
	if err := r.finishSetup(ctx, p, cfg, nil); err != nil {
		p.abort()
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	p.conn.file.Close()
	proc2 := &Process{Pid: p.init.Pid, init: p.init}
	if !opts.Detach {
		proc2.cmd = p.cmd
	}
	return proc2, nil
}
