package spec

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestBuildResources(t *testing.T) {
	for _, tc := range []struct {
		name        string
		res         *runtimeapi.LinuxContainerResources
		defaultPids int64
		pids        int64 // 0: none
	}{
		{"none", nil, 0, 0},
		{"default pids limit", nil, 1024, 1024},
		{"unified pids.max wins over the default", &runtimeapi.LinuxContainerResources{Unified: map[string]string{"pids.max": "10"}}, 1024, 0},
		{"limits and unified pass through", &runtimeapi.LinuxContainerResources{
			CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 1 << 28, CpusetCpus: "0",
			Unified: map[string]string{"memory.high": "200000000", "pids.max": "100"},
		}, 1024, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testContainer(t, func(c *Container) {
				c.Config.Linux.Resources = tc.res
				c.DefaultPidsLimit = tc.defaultPids
			})
			s, err := Build(c)
			if err != nil {
				t.Fatal(err)
			}
			res := s.Linux.Resources
			if res == nil || len(res.Devices) == 0 || res.Devices[0].Allow {
				t.Fatalf("resources %+v lack the deny-all device rule", res)
			}
			if tc.pids == 0 && res.Pids != nil {
				t.Errorf("pids limit %d, want none", *res.Pids.Limit)
			}
			if tc.pids != 0 && (res.Pids == nil || *res.Pids.Limit != tc.pids) {
				t.Errorf("pids %+v, want limit %d", res.Pids, tc.pids)
			}
			r := tc.res
			if r == nil {
				return
			}
			for k, v := range r.Unified {
				if res.Unified[k] != v {
					t.Errorf("unified[%s] = %q, want %q", k, res.Unified[k], v)
				}
			}
			if r.CpuShares != 0 && (res.CPU == nil || *res.CPU.Shares != uint64(r.CpuShares) || *res.CPU.Quota != r.CpuQuota ||
				*res.CPU.Period != uint64(r.CpuPeriod) || res.CPU.Cpus != r.CpusetCpus) {
				t.Errorf("cpu %+v, want shares %d quota %d period %d cpus %s", res.CPU, r.CpuShares, r.CpuQuota, r.CpuPeriod, r.CpusetCpus)
			}
			if r.MemoryLimitInBytes != 0 && (res.Memory == nil || *res.Memory.Limit != r.MemoryLimitInBytes) {
				t.Errorf("memory %+v, want limit %d", res.Memory, r.MemoryLimitInBytes)
			}
		})
	}
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
				CPU:            &specs.LinuxCPU{Shares: ptrTo(uint64(256)), Quota: ptrTo(int64(50000)), Period: ptrTo(uint64(100000)), Cpus: "0", Mems: "0"},
				Memory:         &specs.LinuxMemory{Limit: ptrTo(int64(128 << 20)), Swap: ptrTo(int64(128 << 20))},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
				Unified:        map[string]string{"memory.high": "100M"},
			},
		},
		{
			name: "best effort shares only",
			in:   &runtimeapi.LinuxContainerResources{CpuShares: 2, CpuPeriod: 100000},
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptrTo(uint64(2)), Period: ptrTo(uint64(100000))}},
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
