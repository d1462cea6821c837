package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Stop stops the pod's containers, detaches its network and ends its PID
// namespace. The record and the pinned namespaces stay until Remove.
// Stopping a stopped pod succeeds; a pod removed meanwhile is NotFound.
func (m *Manager) Stop(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	stopErr := m.stopParts(ctx, cur, cur.State == StateReady)
	if cur.State == StateReady {
		cur.State = StateNotReady
	}
	if err := m.records.Put(cur.ID, cur); err != nil {
		return errors.Join(stopErr, err)
	}
	m.index.Publish(cur.ID, cur)
	return stopErr
}

// Remove stops the pod if needed and removes everything of it: pins, files,
// record. Removing an unknown pod, or one removed meanwhile, succeeds.
// Whatever failed before, Remove succeeds once the kernel lets go of the
// pod's parts; only a CNI DEL that fails for an attached pod keeps it (see
// detach).
func (m *Manager) Remove(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	wasReady := cur.State == StateReady
	if cur.State == StateReady {
		cur.State = StateNotReady
	}
	if err := m.teardownNotify(ctx, cur, wasReady); err != nil {
		if perr := m.records.Put(cur.ID, cur); perr != nil {
			klog.ErrorS(perr, "Saving pod sandbox record", "pod", cur.ID)
		}
		m.index.Publish(cur.ID, cur)
		return err
	}
	if err := m.records.Delete(cur.ID); err != nil {
		return err
	}
	m.nriRemoved(ctx, cur)
	m.index.Forget(cur.ID)
	return nil
}

// stopParts stops what a not-ready pod must not keep running: its
// containers, its network attachment and its PID namespace. Idempotent.
// A pod that was ready is told to NRI plugins as stopping once its
// containers stopped, while its network and namespaces are still there.
func (m *Manager) stopParts(ctx context.Context, sb *Sandbox, wasReady bool) error {
	var errs []error
	if m.containers != nil {
		if err := m.containers.StopPodContainers(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("stop containers: %w", err))
		}
	}
	if wasReady {
		m.nriStopped(ctx, sb)
	}
	errs = append(errs, m.detach(ctx, sb))
	if err := sb.Reaper.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// detach runs CNI DEL for a pod that may be attached, and clears
// NetworkAttached once the pod is taken as detached.
//
// DEL must succeed for a pod that a successful ADD attached (it has
// addresses) while its network namespace is still pinned: its addresses,
// interfaces and rules are real and only DEL releases them. Stop and
// Remove then fail, the namespace stays, and every retry runs DEL again,
// as containerd does.
//
// For any other pod a failed DEL is logged and the pod taken as detached,
// so that it can still be removed: one whose ADD failed (Attach ran its own
// DEL then, and the same arguments that broke ADD, such as a name the
// plugins cannot be passed, break every DEL) or was interrupted by a
// crash, and one whose network namespace is gone already (a reboot), with
// which its interfaces went. What a plugin may still hold of such a pod
// outside the namespace (an address lease) is then left to the plugin.
func (m *Manager) detach(ctx context.Context, sb *Sandbox) error {
	if !sb.NetworkAttached {
		return nil
	}
	err := m.opts.Network.Detach(ctx, networkPod(sb))
	if err == nil {
		sb.NetworkAttached = false
		return nil
	}
	if len(sb.IPs) > 0 {
		pinned, perr := isNamespacePin(sb.Namespaces[NamespaceNet])
		if pinned || perr != nil {
			return err
		}
	}
	klog.ErrorS(err, "CNI DEL failed for a pod sandbox that was never attached or has lost its network namespace; taking it as detached", "pod", sb.ID)
	sb.NetworkAttached = false
	return nil
}

// teardown removes every kernel object and file of sb. Idempotent. A pod
// whose CNI DEL must be retried (see detach) keeps its namespaces and files
// for the retry.
func (m *Manager) teardown(ctx context.Context, sb *Sandbox) error {
	return m.teardownNotify(ctx, sb, false)
}

// teardownNotify is teardown of a pod that, when wasReady, is told to NRI
// plugins as stopping.
func (m *Manager) teardownNotify(ctx context.Context, sb *Sandbox, wasReady bool) error {
	var errs []error
	if m.containers != nil {
		// Containers hold bind mounts of the pod's files and namespaces.
		if err := m.containers.RemovePodContainers(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	if err := m.stopParts(ctx, sb, wasReady); err != nil {
		errs = append(errs, err)
		if sb.NetworkAttached {
			return errors.Join(errs...)
		}
	}
	errs = append(errs, m.pins.remove(sb.ID, allNamespaces))
	errs = append(errs, m.removeReaperCgroup(ctx, sb), m.removeCgroup(ctx, sb))
	if sb.Shm != "" {
		if err := unmountShm(sb.Shm); err != nil {
			// Removing the directory would empty the tmpfs through its
			// mount point and then fail on it.
			return errors.Join(append(errs, err)...)
		}
	}
	if err := os.RemoveAll(sb.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove pod directory: %w", err))
	}
	return errors.Join(errs...)
}
