package cgroups

import (
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CPUUsage shapes the CPU section of a sample for CRI ContainerStats and
// PodSandboxStats. prev, the caller's previous sample of the same cgroup
// (nil for none), gives UsageNanoCores.
func (s *Stats) CPUUsage(prev *Stats) *runtimeapi.CpuUsage {
	u := &runtimeapi.CpuUsage{
		Timestamp:            s.Timestamp.UnixNano(),
		UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: s.CPU.UsageUsec * 1000},
		Psi:                  s.CPUPressure.cri(),
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

// MemoryUsage shapes the memory section for CRI, or returns nil without the
// memory controller. AvailableBytes is the limit minus the working set and
// is only set under a limit, as kubelet expects.
func (s *Stats) MemoryUsage() *runtimeapi.MemoryUsage {
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
		Psi:             s.MemoryPressure.cri(),
	}
	if m.Limit != Max {
		avail := uint64(0)
		if m.Limit > m.WorkingSet {
			avail = m.Limit - m.WorkingSet
		}
		u.AvailableBytes = &runtimeapi.UInt64Value{Value: avail}
	}
	return u
}

// SwapUsage shapes swap accounting for CRI, or returns nil without it.
func (s *Stats) SwapUsage() *runtimeapi.SwapUsage {
	m := s.Memory
	if m == nil {
		return nil
	}
	u := &runtimeapi.SwapUsage{
		Timestamp:      s.Timestamp.UnixNano(),
		SwapUsageBytes: &runtimeapi.UInt64Value{Value: m.SwapUsage},
	}
	if m.SwapLimit != Max {
		avail := uint64(0)
		if m.SwapLimit > m.SwapUsage {
			avail = m.SwapLimit - m.SwapUsage
		}
		u.SwapAvailableBytes = &runtimeapi.UInt64Value{Value: avail}
	}
	return u
}

// IoUsage shapes I/O pressure for CRI, or returns nil without PSI.
func (s *Stats) IoUsage() *runtimeapi.IoUsage {
	if s.IOPressure == nil {
		return nil
	}
	return &runtimeapi.IoUsage{Timestamp: s.Timestamp.UnixNano(), Psi: s.IOPressure.cri()}
}

// ProcessUsage shapes the process count for CRI PodSandboxStats, or returns
// nil without the pids controller.
func (s *Stats) ProcessUsage() *runtimeapi.ProcessUsage {
	if s.Pids == nil {
		return nil
	}
	return &runtimeapi.ProcessUsage{Timestamp: s.Timestamp.UnixNano(), ProcessCount: &runtimeapi.UInt64Value{Value: s.Pids.Current}}
}

// cri converts PSI to CRI, whose totals are in nanoseconds.
func (p *Pressure) cri() *runtimeapi.PsiStats {
	if p == nil {
		return nil
	}
	conv := func(d PressureData) *runtimeapi.PsiData {
		return &runtimeapi.PsiData{Total: d.TotalUsec * 1000, Avg10: d.Avg10, Avg60: d.Avg60, Avg300: d.Avg300}
	}
	return &runtimeapi.PsiStats{Some: conv(p.Some), Full: conv(p.Full)}
}
