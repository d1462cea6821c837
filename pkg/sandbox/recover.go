package sandbox

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// recover loads every pod record a previous daemon left: pods still being
// created when it died are undone, ready pods that lost their namespaces or
// reaper (a reboot, a kill) are marked not ready.
func (m *Manager) recover(ctx context.Context) error {
	all, err := m.records.List()
	if err != nil {
		return fmt.Errorf("load pod records: %w", err)
	}
	for _, sb := range all {
		if sb.State == StateCreating {
			klog.InfoS("Undoing pod sandbox left half-made by a crash", "pod", sb.ID, "name", sb.Spec.Metadata.Name)
			if err := m.teardown(ctx, sb); err != nil {
				// Keep it, without its name, for RemovePodSandbox or the
				// next start to retry.
				klog.ErrorS(err, "Undoing half-made pod sandbox", "pod", sb.ID)
				m.pods[sb.ID] = sb
				m.ops[sb.ID] = &sync.Mutex{}
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
		m.pods[sb.ID] = sb
		m.names[nameKey(sb.Spec.Metadata)] = sb.ID
		m.ops[sb.ID] = &sync.Mutex{}
	}
	return nil
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
