package container

import (
	"encoding/json"
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Resources are a container's resource settings as kubelet gave them (CRI's
// LinuxContainerResources), kept in a form that encodes as plain JSON.
type Resources struct {
	CPUPeriod              int64             `json:"cpuPeriod,omitempty"`
	CPUQuota               int64             `json:"cpuQuota,omitempty"`
	CPUShares              int64             `json:"cpuShares,omitempty"`
	MemoryLimitInBytes     int64             `json:"memoryLimitInBytes,omitempty"`
	OOMScoreAdj            int64             `json:"oomScoreAdj,omitempty"`
	CpusetCPUs             string            `json:"cpusetCpus,omitempty"`
	CpusetMems             string            `json:"cpusetMems,omitempty"`
	HugepageLimits         []HugepageLimit   `json:"hugepageLimits,omitempty"`
	Unified                map[string]string `json:"unified,omitempty"`
	MemorySwapLimitInBytes int64             `json:"memorySwapLimitInBytes,omitempty"`
}

// HugepageLimit limits the huge pages of one size.
type HugepageLimit struct {
	PageSize string `json:"pageSize"`
	Limit    uint64 `json:"limit"`
}

// resourcesFromCRI copies kubelet's resources; nil stays nil.
func resourcesFromCRI(r *runtimeapi.LinuxContainerResources) *Resources {
	if r == nil {
		return nil
	}
	out := &Resources{
		CPUPeriod:              r.CpuPeriod,
		CPUQuota:               r.CpuQuota,
		CPUShares:              r.CpuShares,
		MemoryLimitInBytes:     r.MemoryLimitInBytes,
		OOMScoreAdj:            r.OomScoreAdj,
		CpusetCPUs:             r.CpusetCpus,
		CpusetMems:             r.CpusetMems,
		Unified:                maps.Clone(r.Unified),
		MemorySwapLimitInBytes: r.MemorySwapLimitInBytes,
	}
	for _, hp := range r.HugepageLimits {
		if hp != nil {
			out.HugepageLimits = append(out.HugepageLimits, HugepageLimit{PageSize: hp.PageSize, Limit: hp.Limit})
		}
	}
	return out
}

// CRI returns the resources as ContainerStatus reports them; nil stays nil.
func (r *Resources) CRI() *runtimeapi.LinuxContainerResources {
	if r == nil {
		return nil
	}
	out := &runtimeapi.LinuxContainerResources{
		CpuPeriod:              r.CPUPeriod,
		CpuQuota:               r.CPUQuota,
		CpuShares:              r.CPUShares,
		MemoryLimitInBytes:     r.MemoryLimitInBytes,
		OomScoreAdj:            r.OOMScoreAdj,
		CpusetCpus:             r.CpusetCPUs,
		CpusetMems:             r.CpusetMems,
		Unified:                maps.Clone(r.Unified),
		MemorySwapLimitInBytes: r.MemorySwapLimitInBytes,
	}
	for _, hp := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, &runtimeapi.HugepageLimit{PageSize: hp.PageSize, Limit: hp.Limit})
	}
	return out
}

// resourcesFromOCI returns base with the limits of r, as applied to a
// container's cgroup, in its place; what r does not set, and the OOM
// score, stay base's.
func resourcesFromOCI(r *specs.LinuxResources, base *Resources) *Resources {
	out := &Resources{}
	if base != nil {
		out.OOMScoreAdj = base.OOMScoreAdj
	}
	if r == nil {
		return out
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Shares != nil {
			out.CPUShares = int64(*cpu.Shares)
		}
		if cpu.Quota != nil {
			out.CPUQuota = *cpu.Quota
		}
		if cpu.Period != nil {
			out.CPUPeriod = int64(*cpu.Period)
		}
		out.CpusetCPUs, out.CpusetMems = cpu.Cpus, cpu.Mems
	}
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil {
			out.MemoryLimitInBytes = *mem.Limit
		}
		if mem.Swap != nil {
			out.MemorySwapLimitInBytes = *mem.Swap
		}
	}
	for _, hp := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, HugepageLimit{PageSize: hp.Pagesize, Limit: hp.Limit})
	}
	out.Unified = maps.Clone(r.Unified)
	return out
}

// resourcesFromSpec is what s, as NRI plugins adjusted it, gives the
// container: its limits and its OOM score.
func resourcesFromSpec(s *specs.Spec, base *Resources) *Resources {
	var r *specs.LinuxResources
	if s.Linux != nil {
		r = s.Linux.Resources
	}
	out := resourcesFromOCI(r, base)
	if s.Process != nil && s.Process.OOMScoreAdj != nil {
		out.OOMScoreAdj = int64(*s.Process.OOMScoreAdj)
	}
	return out
}

// limitsOf is s's resources and OOM score in a form that compares: it tells
// whether NRI plugins changed them.
func limitsOf(s *specs.Spec) string {
	var v struct {
		R   *specs.LinuxResources
		OOM *int
	}
	if s.Linux != nil {
		v.R = s.Linux.Resources
	}
	if s.Process != nil {
		v.OOM = s.Process.OOMScoreAdj
	}
	b, _ := json.Marshal(v) // plain data: cannot fail
	return string(b)
}
