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
// state and cgroup, the mounts of its writable layer and image volumes and
// its name, and, once it returned, those layers
// (image.Store.RemoveContainerLayersLater), its record and its bundle
// (retire). The log file stays for kubelet to remove. Removing an unknown
// container succeeds.
func (m *Manager) Remove(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil // unknown, or removed while we waited for the lock
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.deleteOCI(ctx, cur); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	if err := m.step("remove-layers"); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	// Unmounted now and deleted in the background. Should the daemon die
	// first, the next Remove deletes them while the record is there, the
	// next start once it is gone.
	if err := m.opts.Images.RemoveContainerLayersLater(ctx, cur.ID, imageVolumes(cur)); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	if err := m.step("remove-retire"); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
	if err := m.retire(cur); err != nil {
		return fmt.Errorf("remove container %s: %w", cur.ID, err)
	}
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

// teardown removes every kernel object and file of c at once: the OCI
// container, the layer's mount, the layer, its image volumes and the
// bundle. Idempotent.
func (m *Manager) teardown(ctx context.Context, c *Container) error {
	if err := m.deleteOCI(ctx, c); err != nil {
		return err
	}
	var errs []error
	if err := m.opts.Images.Unmount(ctx, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, err)
	}
	if err := m.opts.Images.RemoveContainerLayer(ctx, c.ID); err != nil {
		errs = append(errs, err)
	}
	for _, i := range imageVolumes(c) {
		if err := m.opts.Images.RemoveImageVolume(ctx, c.ID, i); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.Bundle); err != nil {
		errs = append(errs, fmt.Errorf("remove bundle: %w", err))
	}
	return errors.Join(errs...)
}

// deleteOCI deletes the OCI container, whose forced delete kills what
// still runs and removes the cgroup; without OCI state it removes the
// cgroup. An error means processes may still hold the root file system.
// Idempotent.
func (m *Manager) deleteOCI(ctx context.Context, c *Container) error {
	err := m.opts.Runtime.Delete(ctx, c.ID, true)
	if errors.Is(err, errdefs.ErrNotFound) {
		// The OCI state is gone (a reboot, or a crash before it was
		// made); a cgroup may still be there, with processes even.
		err = m.removeCgroup(ctx, c)
	}
	return err
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
