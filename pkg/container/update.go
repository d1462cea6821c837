package container

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci/spec"
)

// UpdateResources changes the cgroup limits of a created or running
// container and records res as its resources, replacing the previous ones
// as containerd does. An exited container's record is updated only.
// oom_score_adj is a process attribute fixed at create; it is recorded but
// not applied. NRI plugins may adjust the limits before they are applied;
// the record then holds what was applied.
func (m *Manager) UpdateResources(ctx context.Context, id string, res *runtimeapi.LinuxContainerResources) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	if res == nil {
		return nil // nothing asked for
	}
	limits := spec.ResourcesFromCRI(res)
	active := cur.State == StateCreated || cur.State == StateRunning
	if active {
		if limits, err = m.nriUpdate(ctx, cur, limits); err != nil {
			return fmt.Errorf("update resources of container %s: %w", cur.ID, err)
		}
	}
	recorded := resourcesFromCRI(res)
	if m.opts.NRI != nil && active {
		recorded = resourcesFromOCI(limits, recorded)
	}
	if err := m.applyResources(ctx, cur, limits, recorded); err != nil {
		return err
	}
	if active {
		m.nriNotify(ctx, "PostUpdateContainer", cur, NRI.PostUpdateContainer)
	}
	return nil
}

// UpdateLinuxResources applies limits to a created or running container
// and records them, without telling NRI plugins: it is how plugins' own
// updates are applied. An exited container is FailedPrecondition's.
func (m *Manager) UpdateLinuxResources(ctx context.Context, id string, limits *specs.LinuxResources) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	if limits == nil {
		return nil
	}
	if cur.State != StateCreated && cur.State != StateRunning {
		return fmt.Errorf("container %s is %s: %w", cur.ID, cur.State, errdefs.ErrFailedPrecondition)
	}
	return m.applyResources(ctx, cur, limits, resourcesFromOCI(limits, cur.Resources))
}

// applyResources applies limits to cur's cgroup, if it has a live one, and
// records recorded as its resources. The caller holds cur's lock.
func (m *Manager) applyResources(ctx context.Context, cur *Container, limits *specs.LinuxResources, recorded *Resources) error {
	if cur.State == StateCreated || cur.State == StateRunning {
		if err := m.opts.Runtime.Update(ctx, cur.ID, limits); err != nil {
			return fmt.Errorf("update resources of container %s: %w", cur.ID, err)
		}
	}
	cur.Resources = recorded
	if err := m.save(cur); err != nil {
		return err
	}
	klog.V(2).InfoS("Updated container resources", "container", cur.ID)
	return nil
}
