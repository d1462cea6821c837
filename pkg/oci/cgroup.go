package oci

import (
	"fmt"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// cgroupsPath returns where a container's cgroup goes: the spec's
// linux.cgroupsPath or, when it names none, /crisp/<id> (a systemd scope
// crisp-<id>.scope in system.slice with SystemdCgroup).
func (r *Runtime) cgroupsPath(spec string, id string) (string, error) {
	switch {
	case spec == "" && r.systemd:
		return "system.slice:crisp:" + id, nil
	case spec == "":
		return "/crisp/" + id, nil
	case r.systemd && strings.HasPrefix(spec, "/"):
		return "", errdefs.InvalidField("linux.cgroupsPath", fmt.Sprintf("%q is a cgroupfs path; with --systemd-cgroup it must be slice:prefix:name", spec))
	}
	return spec, nil
}

// openCgroup returns the manager of a container's cgroup. Every cgroup
// operation of this package goes through pkg/cgroups.
func (r *Runtime) openCgroup(mount, cgroupsPath string) (*containerCgroup, error) {
	h, err := r.hierarchy(mount)
	if err != nil {
		return nil, err
	}
	m, err := cgroups.NewManager(h, cgroupsPath)
	if err != nil {
		return nil, fmt.Errorf("linux.cgroupsPath: %w", err)
	}
	return &containerCgroup{Manager: m}, nil
}

// hierarchy returns the cgroup hierarchy at mount, opened once per Runtime:
// it holds the systemd connection of the systemd driver, which every
// operation on a container would otherwise dial anew.
func (r *Runtime) hierarchy(mount string) (*cgroups.Hierarchy, error) {
	r.hierarchiesMu.Lock()
	defer r.hierarchiesMu.Unlock()
	if h, ok := r.hierarchies[mount]; ok {
		return h, nil
	}
	h, err := cgroups.OpenHierarchy(mount, r.missing)
	if err != nil {
		return nil, err
	}
	if r.hierarchies == nil {
		r.hierarchies = map[string]*cgroups.Hierarchy{}
	}
	r.hierarchies[mount] = h
	return h, nil
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
