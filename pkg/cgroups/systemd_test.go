package cgroups

import (
	"math"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestUnitResourceProperties(t *testing.T) {
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Reservation: ptr(int64(-1))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(100))},
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(12345)), Period: ptr(uint64(100000))},
	}
	got := map[string]any{}
	for _, p := range unitResourceProperties(res) {
		got[p.Name] = p.Value.Value()
	}
	want := map[string]any{
		"MemoryMax": uint64(64 << 20),
		"MemoryLow": uint64(math.MaxUint64),
		"TasksMax":  uint64(100),
		"CPUWeight": uint64(100),
		// 12.345% of a CPU is 123450 µs per second; systemd keeps 10 ms
		// steps, so round up to 130000 for the exact cpu.max to fit.
		"CPUQuotaPerSecUSec": uint64(130000),
		"CPUQuotaPeriodUSec": uint64(100000),
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	unlimited := unitResourceProperties(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(-1))}})
	if len(unlimited) != 2 || unlimited[0].Value.Value() != uint64(math.MaxUint64) {
		t.Errorf("unlimited quota properties %v", unlimited)
	}
	if p := unitResourceProperties(nil); p != nil {
		t.Errorf("nil resources gave %v", p)
	}
}
