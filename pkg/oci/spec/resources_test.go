package spec

import (
	"testing"

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
