package sandbox

import (
	"context"
	"fmt"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// createCgroup makes the pod's cgroup under the parent kubelet gave.
func (m *Manager) createCgroup(ctx context.Context, sb *Sandbox) error {
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Create(ctx); err != nil {
		return fmt.Errorf("create pod cgroup %s: %w", sb.Cgroup, err)
	}
	return nil
}

// removeReaperCgroup removes the cgroup of the pod's reaper, which is
// crisp's even below a pod cgroup kubelet made. Idempotent.
func (m *Manager) removeReaperCgroup(ctx context.Context, sb *Sandbox) error {
	if sb.ReaperCgroup == "" {
		return nil
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.ReaperCgroup)
	if err != nil {
		return err
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("remove reaper cgroup %s: %w", sb.ReaperCgroup, err)
	}
	return nil
}

// removeCgroup removes the pod's cgroup if crisp made it. Idempotent.
func (m *Manager) removeCgroup(ctx context.Context, sb *Sandbox) error {
	if !sb.CgroupOwned || sb.Cgroup == "" {
		return nil
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("remove pod cgroup %s: %w", sb.Cgroup, err)
	}
	return nil
}
