package oci

import (
	"fmt"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// defaultCgroupsPath places a container whose spec names no cgroup.
func defaultCgroupsPath(id string) string { return "/crisp/" + id }

// openCgroup returns the manager of a container's cgroup. Every cgroup
// operation of this package goes through pkg/cgroups.
func (r *Runtime) openCgroup(mount, cgroupsPath string) (*containerCgroup, error) {
	h, err := cgroups.OpenHierarchy(mount, r.missing)
	if err != nil {
		return nil, err
	}
	m, err := cgroups.NewManager(h, cgroupsPath)
	if err != nil {
		return nil, fmt.Errorf("linux.cgroupsPath: %w", err)
	}
	return &containerCgroup{Manager: m}, nil
}

// containerCgroup is a container's cgroup.
type containerCgroup struct {
	*cgroups.Manager
}

// Frozen reports whether the cgroup is frozen.
func (c *containerCgroup) Frozen() (bool, error) {
	st, err := c.FreezeState()
	if err != nil {
		return false, err
	}
	return st == cgroups.Frozen, nil
}
