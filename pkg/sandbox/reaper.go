package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// reaperName is the reaper's process name (comm), which it sets itself.
const reaperName = "crisp-reaper"

// startReaper starts the process that holds a pod's shared PID namespace:
// the crisp binary itself as PID 1 of a new PID namespace, in its own
// session so it outlives the daemon, cloned straight into its cgroup cg
// below the pod's. It does nothing but reap the orphans that containers
// leave behind, in C before the Go runtime starts (pkg/oci/nsenter's
// reaper.c): a pod pays a few pages of memory for it.
//
// For a pod with its own user namespace u, the reaper is cloned into a new
// user namespace with u's maps and new namespaces of kinds, all of them
// owned by it, as is its PID namespace: the pod's processes, in that user
// namespace, can join no PID namespace that the host's owns. The pod pins
// them all from the reaper.
func startReaper(ctx context.Context, podID string, cg *cgroups.Manager, u *UserNamespace, kinds []NamespaceKind) (ReaperProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return ReaperProcess{}, fmt.Errorf("find crisp binary: %w", err)
	}
	if u != nil {
		// The child, already the namespace's unprivileged root, may not
		// traverse the directories above the binary.
		self = "/proc/self/exe"
	}
	if err := cg.Create(ctx); err != nil {
		return ReaperProcess{}, fmt.Errorf("create reaper cgroup: %w", err)
	}
	cgfd, err := cg.OpenFD()
	if err != nil {
		return ReaperProcess{}, fmt.Errorf("open reaper cgroup: %w", err)
	}
	defer cgfd.Close()
	cmd := exec.Command(self)
	// The arguments only name the process in ps.
	cmd.Args = []string{"crisp", "pod-reaper", podID}
	cmd.Env = []string{nsenter.ReaperEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWPID,
		Setsid:      true,
		UseCgroupFD: true,
		CgroupFD:    int(cgfd.Fd()),
	}
	if u != nil {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		for _, k := range kinds {
			cmd.SysProcAttr.Cloneflags |= uintptr(cloneFlags[k])
		}
		cmd.SysProcAttr.UidMappings = sysProcIDMap(u.UIDs)
		cmd.SysProcAttr.GidMappings = sysProcIDMap(u.GIDs)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	}
	if err := cmd.Start(); err != nil {
		return ReaperProcess{}, fmt.Errorf("start PID namespace reaper: %w", err)
	}
	pid := cmd.Process.Pid
	// Reap it when it exits while this daemon still runs; after a daemon
	// restart it is the init system's child.
	go cmd.Wait()
	start, _, err := proc.Stat(pid)
	if err == nil {
		// The systemd driver starts the scope around the process; for
		// cgroupfs this confirms the placement clone3 made.
		err = cg.AddProcess(pid)
	}
	if err != nil {
		cmd.Process.Kill()
		return ReaperProcess{}, err
	}
	return ReaperProcess{PID: pid, StartTime: start}, nil
}

// alive reports whether the recorded reaper is still the same, running
// (not zombie) process.
func (r ReaperProcess) alive() bool { return proc.Alive(r.PID, r.StartTime) }

// stop kills the reaper, which ends the pod's PID namespace. A reaper that is
// already gone is no error.
func (r ReaperProcess) stop() error {
	if !r.alive() {
		return nil
	}
	if err := unix.Kill(r.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill PID namespace reaper %d: %w", r.PID, err)
	}
	// SIGKILL is delivered asynchronously; the namespace is gone once the
	// reaper has exited. os/exec's Wait reaps it when this daemon started
	// it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := (proc.Ref{Pid: r.PID, Start: r.StartTime}).Wait(ctx, false); err != nil {
		return fmt.Errorf("PID namespace reaper %d did not exit after SIGKILL: %w", r.PID, err)
	}
	return nil
}
