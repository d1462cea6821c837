package container

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// recover loads every container record a previous daemon left and matches
// it with what the kernel still has: containers still being created when it
// died are undone, created and running ones are watched again, and those
// that exited meanwhile (or whose processes a reboot ended) get their exit
// recorded.
func (m *Manager) recover(ctx context.Context) error {
	// Removals committed before the crash end first: their containers are
	// gone for good.
	if err := m.finishRetired(ctx); err != nil {
		return err
	}
	all, err := m.records.List()
	if err != nil {
		return fmt.Errorf("load container records: %w", err)
	}
	// Writable layers a crash left without a record, made before or after
	// storage recorded them; a failure only leaves layers to the next start.
	live := make(map[string]bool, len(all))
	for _, c := range all {
		live[c.ID] = true
	}
	if _, err := m.opts.Images.ReclaimContainerLayers(ctx, func(id string) bool { return live[id] }); err != nil {
		klog.ErrorS(err, "Removing the writable layers of containers that no longer exist")
	}
	for _, c := range all {
		if c.State == StateCreating {
			klog.InfoS("Undoing container left half-made by a crash", "container", c.ID, "name", c.Metadata.Name)
			if err := m.teardown(ctx, c); err != nil {
				// Keep it, without its name, for RemoveContainer or the
				// next start to retry.
				klog.ErrorS(err, "Undoing half-made container", "container", c.ID)
				c.State, c.Reason, c.Message = StateUnknown, ReasonCannotRun, "creation was interrupted: "+err.Error()
				m.adopt(c, false)
				continue
			}
			if err := m.records.Delete(c.ID); err != nil {
				return err
			}
			continue
		}
		m.adopt(c, true)
		if c.State != StateCreated && c.State != StateRunning {
			continue
		}
		if err := m.reattach(ctx, clone(c)); err != nil {
			return err
		}
	}
	return nil
}

// adopt makes a recovered container known, with its name reserved if
// named. Watchers of containers adopted before may already run.
func (m *Manager) adopt(c *Container, named bool) {
	name := ""
	if named {
		name = c.Name
	}
	m.index.Adopt(c.ID, name, c)
}

// reattach watches a created or running container again, or records the
// exit that happened while no manager watched.
func (m *Manager) reattach(ctx context.Context, c *Container) error {
	if c.BootID != m.bootID {
		klog.InfoS("Container did not survive a reboot", "container", c.ID)
		return m.recordExit(c, &exitWatch{at: time.Now()}, ReasonUnknown, "the node rebooted")
	}
	st, err := m.opts.Runtime.State(ctx, c.ID)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		klog.InfoS("Container's OCI state is gone", "container", c.ID)
		return m.recordExit(c, &exitWatch{at: m.exitTime(c.ID)}, ReasonUnknown, "its runtime state was lost")
	case err != nil:
		return fmt.Errorf("container %s: %w", c.ID, err)
	case st.Status == oci.StatusStopped:
		klog.InfoS("Container exited while crisp was down", "container", c.ID)
		return m.recordExit(c, &exitWatch{status: st.ExitStatus, at: m.exitTime(c.ID)}, "", "")
	case st.Status == oci.StatusPaused:
		// crisp freezes a container only while it checkpoints it: a
		// daemon that died meanwhile must not leave it frozen.
		klog.InfoS("Thawing container frozen by an interrupted checkpoint", "container", c.ID)
		if err := m.opts.Runtime.Resume(ctx, c.ID); err != nil {
			return fmt.Errorf("container %s: thaw: %w", c.ID, err)
		}
	}
	m.watch(c.ID)
	return nil
}
