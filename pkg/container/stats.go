package container

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

// Stats is one sample of a container's resource use.
type Stats struct {
	// Cgroup is the container cgroup's accounting; nil once the cgroup is
	// gone (a container whose executor state was lost).
	Cgroup *cgroups.Stats
	// Previous is the sample taken before this one (nil for the first), so
	// rates such as CPU cores in use can be computed.
	Previous *cgroups.Stats
	// CgroupName is the cgroup's path below the hierarchy's mount.
	CgroupName string
	// WritableLayer is what the container wrote to its layer, measured at
	// WritableLayerAt (at most image.Options.WritableUsageMaxAge before
	// Timestamp) on the filesystem mounted at Mountpoint.
	WritableLayer   image.Usage
	WritableLayerAt time.Time
	Mountpoint      string
	Timestamp       time.Time
}

// Filesystem is the size of the file system that holds the containers'
// writable layers (Stats' Mountpoint). It is the same for every container:
// a caller sampling many reads it once.
func (m *Manager) Filesystem() (image.Capacity, error) {
	return m.opts.Images.Capacity()
}

// Stats samples the container's cgroup and measures its writable layer.
func (m *Manager) Stats(ctx context.Context, id string) (*Stats, error) {
	c, err := m.Get(id)
	if err != nil {
		return nil, err
	}
	st := &Stats{Mountpoint: m.opts.Images.Root()}
	if m.opts.Cgroups != nil && c.CgroupsPath != "" {
		cg, err := cgroups.NewManager(m.opts.Cgroups, c.CgroupsPath)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.ID, err)
		}
		st.CgroupName = cg.Name()
		cur, err := cg.Stats()
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("container %s cgroup stats: %w", c.ID, err)
		default:
			// A container removed meanwhile keeps no sample.
			st.Cgroup, st.Previous = cur, m.index.SwapSample(c.ID, cur)
		}
	}
	st.WritableLayer, st.WritableLayerAt, err = m.opts.Images.DiskUsage(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	st.Timestamp = time.Now()
	return st, nil
}

// ProcessStats counts the processes, threads, file descriptors and sockets
// in the container's cgroup. A container without a cgroup (created, or
// whose cgroup is gone) is NotFound.
func (m *Manager) ProcessStats(id string) (*cgroups.ProcessStats, error) {
	c, err := m.Get(id)
	if err != nil {
		return nil, err
	}
	if m.opts.Cgroups == nil || c.CgroupsPath == "" {
		return nil, fmt.Errorf("container %s has no cgroup: %w", c.ID, errdefs.ErrNotFound)
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, c.CgroupsPath)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	ps, err := cg.ProcessStats()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return ps, nil
}
