package container

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Remove removes a container, killing it first if it still runs: its OCI
// state and cgroup, its root file system's mounts, its bundle, its record
// and its name, then, off the caller's path, its writable layer and image
// volumes (see image.Store.RemoveContainerLayersLater: a crash before they
// are deleted leaves them to the next start). The log file stays for
// kubelet to remove. Removing an unknown container succeeds.
func (m *Manager) Remove(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil // unknown, or removed while we waited for the lock
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.release(ctx, cur); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	if err := m.step("remove-record"); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	if err := m.records.Delete(cur.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	// With the record gone the layers are ownerless: deleted now or, if
	// the daemon dies first, by the next start.
	if err := m.step("remove-layers"); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	m.opts.Images.RemoveContainerLayersLater(cur.ID, imageVolumes(cur))
	if cur.State == StateCreated || cur.State == StateRunning {
		// Killed by its removal: plugins see it stop before it goes.
		m.nriNotify(ctx, "StopContainer", cur, NRI.StopContainer)
	}
	m.nriNotify(ctx, "RemoveContainer", cur, NRI.RemoveContainer)
	m.forget(cur.ID)
	klog.InfoS("Removed container", "container", cur.ID)
	return nil
}

// RemovePodContainers removes every container of pod podID, killing those
// still running. It is sandbox.ContainerStopper's.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	var errs []error
	for _, id := range m.podContainers(podID) {
		errs = append(errs, m.Remove(ctx, id))
	}
	return errors.Join(errs...)
}

// teardown removes every kernel object and file of c: what release
// removes, then the layer and its image volumes. Idempotent.
func (m *Manager) teardown(ctx context.Context, c *Container) error {
	if err := m.release(ctx, c); err != nil {
		return err
	}
	var errs []error
	if err := m.opts.Images.RemoveContainerLayer(ctx, c.ID); err != nil {
		errs = append(errs, err)
	}
	for _, i := range imageVolumes(c) {
		if err := m.opts.Images.RemoveImageVolume(ctx, c.ID, i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// release removes what of c holds the kernel or sits outside the image
// store: the OCI container (whose forced delete kills what still runs and
// removes the cgroup), the mounts of the layer and of its image volumes,
// and the bundle. The layers stay, for teardown or
// RemoveContainerLayersLater to delete. Idempotent.
func (m *Manager) release(ctx context.Context, c *Container) error {
	err := m.opts.Runtime.Delete(ctx, c.ID, true)
	if errors.Is(err, errdefs.ErrNotFound) {
		// The OCI state is gone (a reboot, or a crash before it was
		// made); a cgroup may still be there, with processes even.
		err = m.removeCgroup(ctx, c)
	}
	if err != nil {
		// The processes may still hold the root file system: keep it.
		return err
	}
	var errs []error
	if err := m.opts.Images.Unmount(ctx, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, err)
	}
	for _, i := range imageVolumes(c) {
		if err := m.opts.Images.UnmountImageVolume(ctx, c.ID, i); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.Bundle); err != nil {
		errs = append(errs, fmt.Errorf("remove bundle: %w", err))
	}
	return errors.Join(errs...)
}

// imageVolumes returns the indexes of c's mounts that are image volumes.
func imageVolumes(c *Container) []int {
	var out []int
	for i, mnt := range c.Mounts {
		if mnt.IsImageVolume() {
			out = append(out, i)
		}
	}
	return out
}

// removeCgroup removes the container's cgroup, killing what it still holds,
// for a container whose OCI state is gone. Idempotent.
func (m *Manager) removeCgroup(ctx context.Context, c *Container) error {
	if m.opts.Cgroups == nil || c.CgroupsPath == "" {
		return nil
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, c.CgroupsPath)
	if err != nil {
		return err
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.CgroupsPath, err)
	}
	return nil
}
