package sandbox

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/network"
)

// Stats is one sample of a pod's resource use.
type Stats struct {
	// Cgroup is the pod cgroup's accounting, which covers its containers.
	Cgroup *cgroups.Stats
	// Previous is the sample taken before this one (nil for the first), so
	// rates such as CPU cores in use can be computed.
	Previous *cgroups.Stats
	// CgroupName is the pod cgroup's path below the hierarchy's mount.
	CgroupName string
	// Interfaces are the pod network namespace's interfaces; none for a
	// pod on the host network.
	Interfaces []network.InterfaceStats
}

// podCgroup returns pod id and the manager of its cgroup.
func (m *Manager) podCgroup(id string) (*Sandbox, *cgroups.Manager, error) {
	sb, err := m.Get(id)
	if err != nil {
		return nil, nil, err
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return nil, nil, err
	}
	return sb, cg, nil
}

// Stats samples the pod's cgroup and network interfaces.
func (m *Manager) Stats(id string) (*Stats, error) {
	sb, cg, err := m.podCgroup(id)
	if err != nil {
		return nil, err
	}
	cur, err := cg.Stats()
	if err != nil {
		return nil, fmt.Errorf("pod %s cgroup stats: %w", sb.ID, err)
	}
	// A pod removed meanwhile keeps no sample.
	st := &Stats{Cgroup: cur, Previous: m.index.SwapSample(sb.ID, cur), CgroupName: cg.Name()}
	if netns := sb.Namespaces[NamespaceNet]; netns != "" && sb.State == StateReady {
		st.Interfaces, err = network.InterfaceStatsIn(netns)
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// ProcessStats counts the processes, threads, file descriptors and sockets
// in the pod's cgroup, its containers' included.
func (m *Manager) ProcessStats(id string) (*cgroups.ProcessStats, error) {
	sb, cg, err := m.podCgroup(id)
	if err != nil {
		return nil, err
	}
	ps, err := cg.ProcessStats()
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", sb.ID, err)
	}
	return ps, nil
}

// UpdateResources applies new limits to the pod's cgroup, as after an
// in-place pod resize.
func (m *Manager) UpdateResources(ctx context.Context, id string, res *specs.LinuxResources) error {
	sb, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Apply(res); err != nil {
		return fmt.Errorf("update pod %s cgroup: %w", sb.ID, err)
	}
	return nil
}
