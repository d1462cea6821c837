package container

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// UpdateResources changes the cgroup limits of a created or running
// container and records res as its resources, replacing the previous ones
// as containerd does. An exited container's record is updated only.
// oom_score_adj is a process attribute fixed at create; it is recorded but
// not applied.
func (m *Manager) UpdateResources(ctx context.Context, id string, res *runtimeapi.LinuxContainerResources) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	if res == nil {
		return nil // nothing asked for
	}
	if cur.State == StateCreated || cur.State == StateRunning {
		if err := m.opts.Runtime.Update(ctx, cur.ID, cgroups.ResourcesFromCRI(res)); err != nil {
			return fmt.Errorf("update resources of container %s: %w", cur.ID, err)
		}
	}
	cur.Resources = resourcesFromCRI(res)
	if err := m.save(cur); err != nil {
		return err
	}
	klog.V(2).InfoS("Updated container resources", "container", cur.ID)
	return nil
}
