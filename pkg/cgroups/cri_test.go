package cgroups

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func criMemory(limit int64) *runtimeapi.LinuxContainerResources {
	return &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: limit, MemorySwapLimitInBytes: limit}
}

func criHugepages(size string, limit uint64) *runtimeapi.LinuxContainerResources {
	return &runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: size, Limit: limit}}}
}

func TestResourcesFromCRI(t *testing.T) {
	tests := []struct {
		name string
		in   *runtimeapi.LinuxContainerResources
		want *specs.LinuxResources
	}{
		{name: "nil", in: nil, want: nil},
		{name: "nothing specified", in: &runtimeapi.LinuxContainerResources{OomScoreAdj: 100}, want: &specs.LinuxResources{}},
		{
			name: "burstable container",
			in: &runtimeapi.LinuxContainerResources{
				CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000,
				MemoryLimitInBytes: 128 << 20, MemorySwapLimitInBytes: 128 << 20,
				CpusetCpus: "0", CpusetMems: "0",
				HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
				Unified:        map[string]string{"memory.high": "100M"},
			},
			want: &specs.LinuxResources{
				CPU:            &specs.LinuxCPU{Shares: ptr(uint64(256)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"},
				Memory:         &specs.LinuxMemory{Limit: ptr(int64(128 << 20)), Swap: ptr(int64(128 << 20))},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
				Unified:        map[string]string{"memory.high": "100M"},
			},
		},
		{
			name: "best effort shares only",
			in:   &runtimeapi.LinuxContainerResources{CpuShares: 2, CpuPeriod: 100000},
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(2)), Period: ptr(uint64(100000))}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResourcesFromCRI(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ResourcesFromCRI = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResourcesFromCRIThroughApply(t *testing.T) {
	ft := newFakeTree(t, MissingError, allControllers...)
	ft.cgroup("/ctr", allControllers, leafFiles)
	in := &runtimeapi.LinuxContainerResources{
		CpuShares: 102, CpuQuota: 20000, CpuPeriod: 100000,
		MemoryLimitInBytes: 64 << 20, MemorySwapLimitInBytes: 64 << 20,
	}
	if err := ft.manager("/ctr").Apply(WithDefaultPidsLimit(ResourcesFromCRI(in), 1024)); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu.weight": "17", "cpu.max": "20000 100000", "memory.max": "67108864", "memory.swap.max": "0", "pids.max": "1024",
	} {
		if got := ft.read("/ctr", file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestSandboxResourcesFromCRI(t *testing.T) {
	overhead := &runtimeapi.LinuxContainerResources{CpuShares: 100, CpuQuota: 10000, CpuPeriod: 100000, MemoryLimitInBytes: 10 << 20,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 2 << 20}}}
	resources := &runtimeapi.LinuxContainerResources{CpuShares: 1024, CpuQuota: 200000, CpuPeriod: 100000, MemoryLimitInBytes: 100 << 20,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}}}
	got := SandboxResourcesFromCRI(overhead, resources)
	if *got.CPU.Shares != 1124 || *got.CPU.Quota != 210000 || *got.Memory.Limit != 110<<20 || got.HugepageLimits[0].Limit != 6<<20 {
		t.Errorf("SandboxResourcesFromCRI = cpu %+v memory %+v hugepages %+v", got.CPU, got.Memory, got.HugepageLimits)
	}
	// Unlimited stays unlimited whatever the overhead.
	unlimited := SandboxResourcesFromCRI(overhead, &runtimeapi.LinuxContainerResources{CpuShares: 2})
	if unlimited.Memory != nil || unlimited.CPU.Quota != nil {
		t.Errorf("unlimited pod got memory %+v quota %v", unlimited.Memory, unlimited.CPU.Quota)
	}
	if got := SandboxResourcesFromCRI(overhead, nil); *got.Memory.Limit != 10<<20 {
		t.Errorf("overhead only: memory %d", *got.Memory.Limit)
	}
}

func TestWithDefaultPidsLimit(t *testing.T) {
	if got := WithDefaultPidsLimit(nil, 0); got != nil {
		t.Errorf("limit 0 changed nil resources: %+v", got)
	}
	if got := WithDefaultPidsLimit(nil, 100); *got.Pids.Limit != 100 {
		t.Errorf("default not applied: %+v", got.Pids)
	}
	own := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}}
	if got := WithDefaultPidsLimit(own, 100); *got.Pids.Limit != 5 {
		t.Errorf("container's own limit overridden: %d", *got.Pids.Limit)
	}
	uni := &specs.LinuxResources{Unified: map[string]string{"pids.max": "7"}}
	if got := WithDefaultPidsLimit(uni, 100); got.Pids != nil {
		t.Errorf("unified pids.max overridden by the default: %+v", got.Pids)
	}
}
