package container

import (
	"maps"

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
