package cri

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// cpuUsage shapes the CPU section of a sample for CRI ContainerStats and
// PodSandboxStats. prev, the caller's previous sample of the same cgroup
// (nil for none), gives UsageNanoCores.
func cpuUsage(s, prev *cgroups.Stats) *runtimeapi.CpuUsage {
	u := &runtimeapi.CpuUsage{
		Timestamp:            s.Timestamp.UnixNano(),
		UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: s.CPU.UsageUsec * 1000},
		Psi:                  psiStats(s.CPUPressure),
	}
	if prev != nil {
		if dt := s.Timestamp.Sub(prev.Timestamp).Nanoseconds(); dt > 0 && s.CPU.UsageUsec >= prev.CPU.UsageUsec {
			// core-nanoseconds used per second of wall time
			used := (s.CPU.UsageUsec - prev.CPU.UsageUsec) * 1000
			u.UsageNanoCores = &runtimeapi.UInt64Value{Value: uint64(float64(used) / float64(dt) * 1e9)}
		}
	}
	return u
}

// memoryUsage shapes the memory section for CRI, or returns nil without the
// memory controller. AvailableBytes is the limit minus the working set and
// is only set under a limit, as kubelet expects.
func memoryUsage(s *cgroups.Stats) *runtimeapi.MemoryUsage {
	m := s.Memory
	if m == nil {
		return nil
	}
	u := &runtimeapi.MemoryUsage{
		Timestamp:       s.Timestamp.UnixNano(),
		WorkingSetBytes: &runtimeapi.UInt64Value{Value: m.WorkingSet},
		UsageBytes:      &runtimeapi.UInt64Value{Value: m.Usage},
		RssBytes:        &runtimeapi.UInt64Value{Value: m.RSS},
		PageFaults:      &runtimeapi.UInt64Value{Value: m.PageFaults},
		MajorPageFaults: &runtimeapi.UInt64Value{Value: m.MajorPageFaults},
		Psi:             psiStats(s.MemoryPressure),
	}
	if m.Limit != cgroups.Max {
		avail := uint64(0)
		if m.Limit > m.WorkingSet {
			avail = m.Limit - m.WorkingSet
		}
		u.AvailableBytes = &runtimeapi.UInt64Value{Value: avail}
	}
	return u
}

// swapUsage shapes swap accounting for CRI, or returns nil without it.
func swapUsage(s *cgroups.Stats) *runtimeapi.SwapUsage {
	m := s.Memory
	if m == nil {
		return nil
	}
	u := &runtimeapi.SwapUsage{
		Timestamp:      s.Timestamp.UnixNano(),
		SwapUsageBytes: &runtimeapi.UInt64Value{Value: m.SwapUsage},
	}
	if m.SwapLimit != cgroups.Max {
		avail := uint64(0)
		if m.SwapLimit > m.SwapUsage {
			avail = m.SwapLimit - m.SwapUsage
		}
		u.SwapAvailableBytes = &runtimeapi.UInt64Value{Value: avail}
	}
	return u
}

// ioUsage shapes I/O pressure for CRI, or returns nil without PSI.
func ioUsage(s *cgroups.Stats) *runtimeapi.IoUsage {
	if s.IOPressure == nil {
		return nil
	}
	return &runtimeapi.IoUsage{Timestamp: s.Timestamp.UnixNano(), Psi: psiStats(s.IOPressure)}
}

// processUsage shapes the process count for CRI PodSandboxStats, or returns
// nil without the pids controller.
func processUsage(s *cgroups.Stats) *runtimeapi.ProcessUsage {
	if s.Pids == nil {
		return nil
	}
	return &runtimeapi.ProcessUsage{Timestamp: s.Timestamp.UnixNano(), ProcessCount: &runtimeapi.UInt64Value{Value: s.Pids.Current}}
}

// psiStats converts PSI to CRI, whose totals are in nanoseconds.
func psiStats(p *cgroups.Pressure) *runtimeapi.PsiStats {
	if p == nil {
		return nil
	}
	conv := func(d cgroups.PressureData) *runtimeapi.PsiData {
		return &runtimeapi.PsiData{Total: d.TotalUsec * 1000, Avg10: d.Avg10, Avg60: d.Avg60, Avg300: d.Avg300}
	}
	return &runtimeapi.PsiStats{Some: conv(p.Some), Full: conv(p.Full)}
}
