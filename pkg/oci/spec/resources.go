package spec

import (
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// buildResources returns the container's cgroup limits from
// linux.resources (the unified map passes through), the default pids
// limit when the container sets none, and the device rules. They are
// checked now, so that a bad value fails the CreateContainer request
// rather than the start.
func buildResources(c *Container, devices []specs.LinuxDeviceCgroup) (*specs.LinuxResources, error) {
	res := ResourcesFromCRI(c.Config.GetLinux().GetResources())
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

// ResourcesFromCRI translates kubelet's container resources into the OCI
// resources Apply writes. Zero CRI fields mean "not specified" and stay
// unset. memory_swap_limit_in_bytes is memory+swap, as in OCI, so a value
// equal to the memory limit means "no swap" (kubelet's NoSwap); kubelet's
// LimitedSwap on cgroup v2 arrives as unified["memory.swap.max"], which is
// written after and so wins. oom_score_adj is a process attribute, not a
// cgroup one, and is left to the executor. The result is not validated:
// cgroups.Manager.Apply and
// cgroups.ValidateResources do that.
func ResourcesFromCRI(r *runtimeapi.LinuxContainerResources) *specs.LinuxResources {
	if r == nil {
		return nil
	}
	res := &specs.LinuxResources{}
	if r.CpuShares > 0 || r.CpuQuota != 0 || r.CpuPeriod > 0 || r.CpusetCpus != "" || r.CpusetMems != "" {
		cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
		if r.CpuShares > 0 {
			cpu.Shares = ptrTo(uint64(r.CpuShares))
		}
		if r.CpuQuota != 0 {
			cpu.Quota = ptrTo(r.CpuQuota)
		}
		if r.CpuPeriod > 0 {
			cpu.Period = ptrTo(uint64(r.CpuPeriod))
		}
		res.CPU = cpu
	}
	if r.MemoryLimitInBytes != 0 || r.MemorySwapLimitInBytes != 0 {
		mem := &specs.LinuxMemory{}
		if r.MemoryLimitInBytes != 0 {
			mem.Limit = ptrTo(r.MemoryLimitInBytes)
		}
		if r.MemorySwapLimitInBytes != 0 {
			mem.Swap = ptrTo(r.MemorySwapLimitInBytes)
		}
		res.Memory = mem
	}
	for _, hp := range r.HugepageLimits {
		if hp != nil {
			res.HugepageLimits = append(res.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: hp.PageSize, Limit: hp.Limit})
		}
	}
	if len(r.Unified) > 0 {
		res.Unified = maps.Clone(r.Unified)
	}
	return res
}

// SandboxResourcesFromCRI computes the limits of a pod cgroup from
// UpdatePodSandboxResources: the sum of the containers' resources plus the
// pod overhead. A dimension the resources leave unlimited stays unlimited.
func SandboxResourcesFromCRI(overhead, resources *runtimeapi.LinuxContainerResources) *specs.LinuxResources {
	if resources == nil {
		return ResourcesFromCRI(overhead)
	}
	if overhead == nil {
		return ResourcesFromCRI(resources)
	}
	sum := &runtimeapi.LinuxContainerResources{
		CpuPeriod:  resources.CpuPeriod,
		CpuShares:  resources.CpuShares + overhead.CpuShares,
		CpusetCpus: resources.CpusetCpus,
		CpusetMems: resources.CpusetMems,
		Unified:    resources.Unified,
	}
	if sum.CpuPeriod == 0 {
		sum.CpuPeriod = overhead.CpuPeriod
	}
	if resources.CpuQuota > 0 {
		sum.CpuQuota = resources.CpuQuota + scaleQuota(overhead.CpuQuota, overhead.CpuPeriod, sum.CpuPeriod)
	} else {
		sum.CpuQuota = resources.CpuQuota
	}
	if resources.MemoryLimitInBytes > 0 {
		sum.MemoryLimitInBytes = resources.MemoryLimitInBytes + max(overhead.MemoryLimitInBytes, 0)
	} else {
		sum.MemoryLimitInBytes = resources.MemoryLimitInBytes
	}
	if resources.MemorySwapLimitInBytes > 0 {
		sum.MemorySwapLimitInBytes = resources.MemorySwapLimitInBytes + max(overhead.MemoryLimitInBytes, 0)
	} else {
		sum.MemorySwapLimitInBytes = resources.MemorySwapLimitInBytes
	}
	extra := map[string]uint64{}
	for _, hp := range overhead.HugepageLimits {
		if hp != nil {
			extra[hp.PageSize] += hp.Limit
		}
	}
	for _, hp := range resources.HugepageLimits {
		if hp != nil {
			sum.HugepageLimits = append(sum.HugepageLimits, &runtimeapi.HugepageLimit{PageSize: hp.PageSize, Limit: hp.Limit + extra[hp.PageSize]})
		}
	}
	return ResourcesFromCRI(sum)
}

// scaleQuota converts a CPU quota from one period to another.
func scaleQuota(quota, from, to int64) int64 {
	if quota <= 0 {
		return 0
	}
	if from <= 0 || to <= 0 || from == to {
		return quota
	}
	return quota * to / from
}
