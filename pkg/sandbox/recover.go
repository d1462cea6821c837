package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// recover loads every pod record a previous daemon left: pods still being
// created when it died are undone, ready pods that lost their namespaces or
// reaper (a reboot, a kill) are marked not ready. Pins and pod directories
// that no record names are removed.
func (m *Manager) recover(ctx context.Context) error {
	all, err := m.records.List()
	if err != nil {
		return fmt.Errorf("load pod records: %w", err)
	}
	known := map[string]bool{}
	for _, sb := range all {
		known[sb.ID] = true
		if sb.State == StateCreating {
			klog.InfoS("Undoing pod sandbox left half-made by a crash", "pod", sb.ID, "name", sb.Spec.Metadata.Name)
			if err := m.teardown(ctx, sb); err != nil {
				// Keep it, without its name, for RemovePodSandbox or the
				// next start to retry.
				klog.ErrorS(err, "Undoing half-made pod sandbox", "pod", sb.ID)
				if perr := m.records.Put(sb.ID, sb); perr != nil {
					klog.ErrorS(perr, "Saving pod sandbox record", "pod", sb.ID)
				}
				m.index.Adopt(sb.ID, "", sb)
				continue
			}
			if err := m.records.Delete(sb.ID); err != nil {
				return err
			}
			continue
		}
		if sb.State == StateReady && !m.intact(sb) {
			klog.InfoS("Pod sandbox lost its namespaces; marking it not ready", "pod", sb.ID)
			sb.State = StateNotReady
			if err := m.records.Put(sb.ID, sb); err != nil {
				return err
			}
		}
		m.index.Adopt(sb.ID, nameKey(sb.Spec.Metadata), sb)
	}
	m.removeOrphans(known)
	return nil
}

// removeOrphans removes the pins and pod directories of pods that have no
// record. Every pod is recorded before any of it is made, so only a
// record lost outside crisp leaves them; they are removed all the same, as
// they would pin namespaces and mounts forever.
func (m *Manager) removeOrphans(known map[string]bool) {
	for _, kind := range []NamespaceKind{NamespaceNet, NamespaceIPC, NamespaceUTS, NamespacePID} {
		entries, _ := os.ReadDir(filepath.Join(m.pins.dir, string(kind)))
		for _, e := range entries {
			if known[e.Name()] {
				continue
			}
			klog.InfoS("Removing namespace pin of a pod without a record", "pod", e.Name(), "namespace", kind)
			if err := m.pins.remove(e.Name(), []NamespaceKind{kind}); err != nil {
				klog.ErrorS(err, "Removing namespace pin of a pod without a record", "pod", e.Name())
			}
		}
	}
	pods := filepath.Join(m.opts.StateDir, "pods")
	entries, _ := os.ReadDir(pods)
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		klog.InfoS("Removing directory of a pod without a record", "pod", e.Name())
		dir := filepath.Join(pods, e.Name())
		if err := unmountShm(filepath.Join(dir, ShmFile)); err != nil {
			klog.ErrorS(err, "Removing directory of a pod without a record", "pod", e.Name())
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			klog.ErrorS(err, "Removing directory of a pod without a record", "pod", e.Name())
		}
	}
}

// intact reports whether a ready pod still has everything it was made with.
func (m *Manager) intact(sb *Sandbox) bool {
	if sb.BootID != m.bootID {
		return false
	}
	for _, path := range sb.Namespaces {
		if ok, err := isNamespacePin(path); err != nil || !ok {
			return false
		}
	}
	if sb.Spec.PIDMode == ModePod && !sb.Reaper.alive() {
		return false
	}
	return true
}

// isNamespacePin reports whether path is a bind-mounted namespace file.
func isNamespacePin(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return st.Type == unix.NSFS_MAGIC, nil
}
