package spec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// buildResources returns the container's cgroup limits from
// linux.resources (the unified map passes through), the default pids
// limit when the container sets none, and the device rules. They are
// checked now, so that a bad value fails the CreateContainer request
// rather than the start.
func buildResources(c *Container, devices []specs.LinuxDeviceCgroup) (*specs.LinuxResources, error) {
	res := cgroups.ResourcesFromCRI(c.Config.GetLinux().GetResources())
	res = cgroups.WithDefaultPidsLimit(res, c.DefaultPidsLimit)
	if res == nil {
		res = &specs.LinuxResources{}
	}
	res.Devices = devices
	if err := cgroups.ValidateResources(res); err != nil {
		return nil, err
	}
	return res, nil
}
