package cri

import (
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

func TestCgroupStatsShapes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := &cgroups.Stats{Timestamp: t0, CPU: cgroups.CPUStats{UsageUsec: 1_000_000}}
	s := &cgroups.Stats{
		Timestamp: t0.Add(2 * time.Second),
		CPU:       cgroups.CPUStats{UsageUsec: 2_000_000},
		Memory: &cgroups.MemoryStats{Usage: 100 << 20, Limit: 128 << 20, WorkingSet: 90 << 20, RSS: 60 << 20,
			PageFaults: 5, MajorPageFaults: 1, SwapUsage: 1 << 20, SwapLimit: cgroups.Max},
		Pids:        &cgroups.PidsStats{Current: 4, Limit: cgroups.Max},
		CPUPressure: &cgroups.Pressure{Some: cgroups.PressureData{Avg10: 2.5, TotalUsec: 7}},
	}
	cpu := cpuUsage(s, prev)
	if cpu.Timestamp != s.Timestamp.UnixNano() || cpu.UsageCoreNanoSeconds.Value != 2e9 {
		t.Errorf("CpuUsage = %v", cpu)
	}
	// 1 s of CPU in 2 s of wall time: half a core.
	if cpu.UsageNanoCores == nil || cpu.UsageNanoCores.Value != 5e8 {
		t.Errorf("UsageNanoCores = %v, want 5e8", cpu.UsageNanoCores)
	}
	if cpu.Psi == nil || cpu.Psi.Some.Avg10 != 2.5 || cpu.Psi.Some.Total != 7000 {
		t.Errorf("CPU PSI = %v (total must be in nanoseconds)", cpu.Psi)
	}
	if cpuUsage(s, nil).UsageNanoCores != nil {
		t.Error("UsageNanoCores without a previous sample")
	}
	mem := memoryUsage(s)
	if mem.WorkingSetBytes.Value != 90<<20 || mem.UsageBytes.Value != 100<<20 || mem.RssBytes.Value != 60<<20 ||
		mem.AvailableBytes.Value != 38<<20 || mem.PageFaults.Value != 5 || mem.MajorPageFaults.Value != 1 || mem.Psi != nil {
		t.Errorf("MemoryUsage = %v", mem)
	}
	swap := swapUsage(s)
	if swap.SwapUsageBytes.Value != 1<<20 || swap.SwapAvailableBytes != nil {
		t.Errorf("SwapUsage = %v (unlimited swap has no available bytes)", swap)
	}
	if p := processUsage(s); p.ProcessCount.Value != 4 {
		t.Errorf("ProcessUsage = %v", p)
	}
	if ioUsage(s) != nil {
		t.Error("IoUsage without io pressure")
	}
	unlimited := &cgroups.Stats{Memory: &cgroups.MemoryStats{Limit: cgroups.Max, WorkingSet: 1}}
	if memoryUsage(unlimited).AvailableBytes != nil {
		t.Error("AvailableBytes set without a memory limit")
	}
	if memoryUsage(&cgroups.Stats{}) != nil || processUsage(&cgroups.Stats{}) != nil {
		t.Error("sections without controllers must be nil")
	}
}
