package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The figures the CRI metrics add to a sample, read from a real cgroup with
// the cpu and memory controllers: the cpu.weight and cpu.max kubelet's
// shares and quota became, memory.peak, and the processes and threads of
// the whole subtree with their descriptors.
func TestKernelCPULimitsPeakAndProcessStats(t *testing.T) {
	h := realHierarchy(t, MissingError, "cpu", "memory")
	// A pod-like parent holding two leaves: processes live in leaves only.
	pod := testCgroup(t, h)
	m := testCgroup(t, h, "a")
	other := testCgroup(t, h, "b")
	if err := m.Apply(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	startHelperUntil(t, m, "alloc:8", "ready", "allocated")
	startHelper(t, other, "spin")
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPULimits == nil || *s.CPULimits != (CPULimits{Weight: CPUSharesToWeight(1024), QuotaUsec: 50000, PeriodUsec: 100000}) {
		t.Errorf("CPULimits = %+v, want weight %d, 50000/100000", s.CPULimits, CPUSharesToWeight(1024))
	}
	if CPUWeightToShares(s.CPULimits.Weight) != 1024 {
		t.Errorf("weight %d reads back as %d shares, want 1024", s.CPULimits.Weight, CPUWeightToShares(s.CPULimits.Weight))
	}
	if s.Memory == nil || s.Memory.Peak < 8<<20 || s.Memory.Peak < s.Memory.Usage {
		t.Errorf("memory peak %+v, want at least the 8 MiB the helper holds and the usage", s.Memory)
	}
	ps, err := pod.ProcessStats()
	if err != nil {
		t.Fatal(err)
	}
	// Two Go helpers, one per leaf: each has several threads and at least
	// its three standard descriptors.
	if ps.Processes != 2 || ps.Threads <= ps.Processes || ps.FileDescriptors < 6 {
		t.Errorf("ProcessStats of the parent = %+v, want the 2 helpers of the subtree with their threads and descriptors", ps)
	}
	if leaf, err := m.ProcessStats(); err != nil || leaf.Processes != 1 {
		t.Errorf("ProcessStats of one leaf = %+v, %v; want its one helper", leaf, err)
	}
}
