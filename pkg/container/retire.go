package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
)

// A removed container is retired before RemoveContainer answers: its bundle
// is renamed into the retired directory, one rename, which is the removal's
// commit point. Its record and the renamed bundle are deleted in the
// background (Manager.removals). A record deletion is a synced database
// commit, and a bundle a directory tree: together most of the time a
// removal takes once the container's processes are gone and its layers
// detached, and nothing kubelet has to wait for, since the container is
// out of every listing once retired.
//
// Should the daemon die before the background deletion ends, the next
// start finds the container in the retired directory and finishes it
// (finishRetired) before it loads any record: a retired container never
// comes back. Should the machine lose the rename (power loss on a
// non-synced directory), the container comes back as it was before
// RemoveContainer, and kubelet removes it again.

// retiredDir is the directory of retired containers, beside the bundles
// so that a bundle's rename stays on its file system.
func retiredDir(stateDir string) string {
	return filepath.Join(stateDir, "containers-retired")
}

// retire commits the removal of c and hands the rest to the background:
// the bundle's rename (or, for a container without one, a marker
// directory) into the retired directory.
func (m *Manager) retire(c *Container) error {
	dst := filepath.Join(m.retired, c.ID)
	err := os.Rename(c.Bundle, dst)
	if errors.Is(err, fs.ErrNotExist) {
		// Its bundle went already (a container whose creation was undone
		// only partly): a directory of its own marks it.
		err = os.Mkdir(dst, 0o700)
	}
	if err != nil {
		return fmt.Errorf("retire: %w", err)
	}
	if !m.removals.Go(func() { m.deleteRetired(c.ID) }) {
		klog.InfoS("Closing: the record of a removed container is deleted at the next start", "container", c.ID)
	}
	return nil
}

// deleteRetired deletes the record of retired container id, then its
// retired bundle, which marked it retired until the record was gone. A
// failure leaves both to the next start.
func (m *Manager) deleteRetired(id string) {
	if err := m.step("remove-record"); err != nil {
		return
	}
	if err := m.records.Delete(id); err != nil {
		klog.ErrorS(err, "Deleting the record of a removed container; the next start retries", "container", id)
		return
	}
	if err := os.RemoveAll(filepath.Join(m.retired, id)); err != nil {
		klog.ErrorS(err, "Deleting the bundle of a removed container; the next start retries", "container", id)
	}
}

// finishRetired finishes the removals a previous daemon committed and did
// not end: it deletes every retired container's record, then its retired
// bundle.
func (m *Manager) finishRetired(ctx context.Context) error {
	entries, err := os.ReadDir(m.retired)
	if err != nil {
		return fmt.Errorf("finish removed containers: %w", err)
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Only retire names entries here: each is a container id.
		if err := m.records.Delete(e.Name()); err != nil {
			return fmt.Errorf("finish removed container %s: %w", e.Name(), err)
		}
		if err := os.RemoveAll(filepath.Join(m.retired, e.Name())); err != nil {
			return fmt.Errorf("finish removed container %s: %w", e.Name(), err)
		}
	}
	return nil
}
