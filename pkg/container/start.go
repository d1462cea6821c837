package container

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Start runs the process of a created container, or resumes the restored
// processes of one made from a checkpoint. A process that cannot be
// started leaves the container exited with reason ContainerCannotRun; one
// that starts and exits at once is recorded by the exit watcher as any
// other exit.
func (m *Manager) Start(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	if cur.State != StateCreated {
		return fmt.Errorf("container %s is %s, not created: %w", cur.ID, cur.State, errdefs.ErrFailedPrecondition)
	}
	// Plugins are told before the process may run; one that fails keeps
	// the container created, for kubelet to retry or remove.
	if err := m.nriStart(ctx, cur); err != nil {
		return fmt.Errorf("start container %s: %w", cur.ID, err)
	}
	// Taken before: the process may exit before Start returns.
	startedAt := time.Now()
	if cur.Restored != nil && cur.Restored.Stopped {
		err = m.resumeRestored(ctx, cur)
	} else {
		err = m.opts.Runtime.Start(ctx, cur.ID)
	}
	if o := m.opts.Observer; o != nil {
		o.ObserveStart(time.Since(startedAt), err)
	}
	if err != nil {
		err = fmt.Errorf("start container %s: %w", cur.ID, err)
		st, serr := m.opts.Runtime.State(ctx, cur.ID)
		if serr != nil || st.Status != oci.StatusStopped {
			return err // still created, or unknown: kubelet may retry or remove it
		}
		w := m.exitOf(ctx, cur.ID, st)
		if rerr := m.recordExit(cur, w, ReasonCannotRun, err.Error()); rerr != nil {
			klog.ErrorS(rerr, "Recording container exit", "container", cur.ID)
		}
		return err
	}
	cur.State, cur.StartedAt = StateRunning, startedAt
	if err := m.save(cur); err != nil {
		return err
	}
	m.nriNotify(ctx, "PostStartContainer", cur, NRI.PostStartContainer)
	klog.InfoS("Started container", "container", cur.ID, "pid", cur.Pid)
	return nil
}

// exitOf returns how the stopped container id ended: from its watcher when
// it has one, else from its OCI state st.
func (m *Manager) exitOf(ctx context.Context, id string, st *oci.State) *exitWatch {
	if w := m.exitWatch(id); w != nil {
		select {
		case <-w.done:
			return w
		case <-ctx.Done():
		case <-m.ctx.Done():
		}
	}
	return &exitWatch{status: st.ExitStatus, at: m.exitTime(id)}
}
