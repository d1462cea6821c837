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
	stopErr := m.stopParts(ctx, cur)
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
func (m *Manager) Remove(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if cur.State == StateReady {
		cur.State = StateNotReady
	}
	if err := m.teardown(ctx, cur); err != nil {
		if perr := m.records.Put(cur.ID, cur); perr != nil {
			klog.ErrorS(perr, "Saving pod sandbox record", "pod", cur.ID)
		}
		m.index.Publish(cur.ID, cur)
		return err
	}
	if err := m.records.Delete(cur.ID); err != nil {
		return err
	}
	m.index.Forget(cur.ID)
	return nil
}

// stopParts stops what a not-ready pod must not keep running: its
// containers, its network attachment and its PID namespace. Idempotent.
func (m *Manager) stopParts(ctx context.Context, sb *Sandbox) error {
	var errs []error
	if m.containers != nil {
		if err := m.containers.StopPodContainers(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("stop containers: %w", err))
		}
	}
	errs = append(errs, m.detach(ctx, sb))
	if err := sb.Reaper.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// detach runs CNI DEL for a pod that may be attached, and clears
// NetworkAttached once it succeeded.
func (m *Manager) detach(ctx context.Context, sb *Sandbox) error {
	if !sb.NetworkAttached {
		return nil
	}
	if err := m.opts.Network.Detach(ctx, networkPod(sb)); err != nil {
		return err
	}
	sb.NetworkAttached = false
	return nil
}

// teardown removes every kernel object and file of sb. Idempotent.
func (m *Manager) teardown(ctx context.Context, sb *Sandbox) error {
	var errs []error
	if m.containers != nil {
		// Containers hold bind mounts of the pod's files and namespaces.
		if err := m.containers.RemovePodContainers(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	errs = append(errs, m.stopParts(ctx, sb))
	errs = append(errs, m.pins.remove(sb.ID, []NamespaceKind{NamespaceNet, NamespaceIPC, NamespaceUTS, NamespacePID}))
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
