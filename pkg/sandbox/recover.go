package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/proc"
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
	m.removeOrphans(ctx, known)
	return nil
}

// removeOrphans removes what pods without a record left: their pins, their
// PID namespace's reaper, the cgroups crisp made for them and their
// directories. Every pod is recorded before any of it is made, so only a
// record lost outside crisp leaves them; they are removed all the same, as
// they would pin namespaces, mounts and a process forever. What is found
// is this daemon's state directory's alone: another daemon's pods are
// never touched.
func (m *Manager) removeOrphans(ctx context.Context, known map[string]bool) {
	orphans := map[string]bool{}
	dirs := []string{filepath.Join(m.opts.StateDir, "pods")}
	for _, kind := range allNamespaces {
		dirs = append(dirs, filepath.Join(m.pins.dir, string(kind)))
	}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !known[e.Name()] {
				orphans[e.Name()] = true
			}
		}
	}
	for id := range orphans {
		klog.InfoS("Removing what a pod sandbox without a record left", "pod", id)
		if err := m.removeOrphan(ctx, id); err != nil {
			klog.ErrorS(err, "Removing what a pod sandbox without a record left", "pod", id)
		}
	}
}

// removeOrphan removes what pod id, which has no record, left.
func (m *Manager) removeOrphan(ctx context.Context, id string) error {
	var errs []error
	// The reaper first: its cgroup is found through it, and the pinned PID
	// namespace, which tells that it is this daemon's, goes with the pin.
	errs = append(errs, m.stopOrphanReaper(ctx, id))
	errs = append(errs, m.pins.remove(id, allNamespaces))
	// Only the pod cgroup crisp names after the pod is known to be
	// crisp's; one kubelet gave as the parent is kubelet's.
	if path, err := cgroups.PodCgroupsPath(m.opts.CgroupDriver, "", id); err == nil {
		if cg, err := cgroups.NewManager(m.opts.Cgroups, path); err == nil {
			errs = append(errs, cg.Destroy(ctx))
		}
	}
	dir := filepath.Join(m.opts.StateDir, "pods", id)
	if err := unmountShm(filepath.Join(dir, ShmFile)); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove pod directory: %w", err))
	}
	return errors.Join(errs...)
}

// stopOrphanReaper kills the reaper holding the PID namespace pinned for
// pod id, if any, and removes its cgroup.
func (m *Manager) stopOrphanReaper(ctx context.Context, id string) error {
	pin := m.pins.pinPath(NamespacePID, id)
	if ok, err := isNamespacePin(pin); err != nil || !ok {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(pin, &st); err != nil {
		return fmt.Errorf("pinned PID namespace of pod %s: %w", id, err)
	}
	ns := fmt.Sprintf("pid:[%d]", st.Ino)
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); link != ns {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != reaperName {
			continue
		}
		start, _, err := proc.Stat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		cgroup := processCgroup(pid)
		klog.InfoS("Stopping the reaper of a pod sandbox without a record", "pod", id, "pid", pid, "cgroup", cgroup)
		if err := (ReaperProcess{PID: pid, StartTime: start}).stop(); err != nil {
			errs = append(errs, err)
			continue
		}
		if cgroup == "" || cgroup == "/" {
			continue
		}
		cg, err := cgroups.NewManager(m.opts.Cgroups, cgroup)
		if err == nil {
			err = cg.Destroy(ctx)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// processCgroup is the cgroup v2 path of process pid, "" if unknown.
func processCgroup(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path
		}
	}
	return ""
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
