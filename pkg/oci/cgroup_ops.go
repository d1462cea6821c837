package oci

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// runningCgroup returns the cgroup of a container whose status is one of ok.
func (r *Runtime) runningCgroup(id string, ok ...Status) (*record, *containerCgroup, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, nil, err
	}
	st := r.status(rec)
	allowed := false
	for _, s := range ok {
		allowed = allowed || s == st
	}
	if !allowed {
		return nil, nil, fmt.Errorf("container %s is %s: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath)
	if err != nil {
		return nil, nil, err
	}
	return rec, cg, nil
}

// Pause freezes every process of a running container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, cg, err := r.runningCgroup(id, StatusRunning, StatusCreated)
	if err != nil {
		return err
	}
	return cg.Freeze(ctx)
}

// Resume thaws a paused container, or one still freezing (a Pause that
// ended before every process stopped).
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, cg, err := r.runningCgroup(id, StatusPaused, StatusRunning)
	if err != nil {
		return err
	}
	if st, err := cg.FreezeState(); err == nil && st == cgroups.Thawed {
		return fmt.Errorf("container %s is running, not paused: %w", id, errdefs.ErrFailedPrecondition)
	}
	return cg.Thaw(ctx)
}

// Update changes the resource limits of a container and records them.
func (r *Runtime) Update(_ context.Context, id string, res *specs.LinuxResources) error {
	rec, cg, err := r.runningCgroup(id, StatusCreated, StatusRunning, StatusPaused)
	if err != nil {
		return err
	}
	if err := cg.Apply(withStandardDevices(rec.Config, res)); err != nil {
		return err
	}
	rec.Config.Linux.Resources = mergeResources(rec.Config.Linux.Resources, res)
	rec.configJSON = nil
	return rec.save(r.dir(id))
}

// withStandardDevices completes the device rules of an update as create
// does (cgroupResources): new rules replace the spec's, and the standard
// devices stay allowed after them.
func withStandardDevices(spec *specs.Spec, res *specs.LinuxResources) *specs.LinuxResources {
	if res == nil || len(res.Devices) == 0 {
		return res
	}
	linux := *spec.Linux
	linux.Resources = &specs.LinuxResources{Devices: res.Devices}
	updated := *spec
	updated.Linux = &linux
	out := *res
	out.Devices = cgroupResources(&updated).Devices
	return &out
}

// mergeResources overlays the set fields of upd on cur.
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	if cur == nil {
		return upd
	}
	out := *cur
	if upd.Memory != nil {
		out.Memory = upd.Memory
	}
	if upd.CPU != nil {
		out.CPU = upd.CPU
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Unified != nil {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		for k, v := range upd.Unified {
			out.Unified[k] = v
		}
	}
	return &out
}

// Ps returns the pids of every process in the container's cgroup.
func (r *Runtime) Ps(_ context.Context, id string) ([]int, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, err
	}
	cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath)
	if err != nil {
		return nil, err
	}
	return cg.Procs()
}
