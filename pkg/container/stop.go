package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Stop stops a container: its stop signal to its init, then, after timeout,
// SIGKILL to all its processes. It returns once the container exited and
// the exit is recorded. Stopping an exited container succeeds. A created
// container, which never ran, is killed at once and recorded as exited with
// the code its monitor saw, so that nothing of a stopped pod keeps running.
func (m *Manager) Stop(ctx context.Context, id string, timeout time.Duration) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	if cur.State != StateCreated && cur.State != StateRunning {
		return nil
	}
	w := m.exitWatch(cur.ID)
	if w == nil {
		// Every created or running container has a watcher; without one
		// the manager is closing.
		return fmt.Errorf("container %s: %w", cur.ID, errdefs.ErrUnavailable)
	}
	if cur.State == StateRunning && timeout > 0 {
		sig := stopSignal(cur)
		klog.V(2).InfoS("Stopping container", "container", cur.ID, "signal", unix.SignalName(sig), "timeout", timeout)
		// The process may have exited already, or exit meanwhile.
		err := m.opts.Runtime.Kill(ctx, cur.ID, sig, false)
		if err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("stop container %s: %w", cur.ID, err)
		}
		timer := time.NewTimer(timeout)
		select {
		case <-w.done:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	if err := m.kill(ctx, cur.ID, w); err != nil {
		return fmt.Errorf("stop container %s: %w", cur.ID, err)
	}
	message := ""
	if cur.State == StateCreated {
		message = "stopped before it was started"
	}
	return m.recordExit(cur, w, "", message)
}

// kill SIGKILLs every process of container id and waits for its init's
// exit. The init may be gone already; in a shared or the host's PID
// namespace its children are not, and they must not outlive the stop.
func (m *Manager) kill(ctx context.Context, id string, w *exitWatch) error {
	if err := m.opts.Runtime.Kill(ctx, id, unix.SIGKILL, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.ctx.Done():
		return fmt.Errorf("container %s: %w", id, errdefs.ErrUnavailable)
	}
}

// stopSignal is the signal Stop sends first: the one recorded at create,
// else SIGTERM.
func stopSignal(c *Container) syscall.Signal {
	if sig := unix.SignalNum(c.StopSignal); sig != 0 {
		return sig
	}
	return unix.SIGTERM
}

// StopPodContainers stops every container of pod podID at once, with
// SIGKILL, as containerd does when kubelet stops a pod (kubelet has given
// each container its grace period before). It is sandbox.ContainerStopper's.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	ids := m.podContainers(podID)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Stop(ctx, id, 0)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
