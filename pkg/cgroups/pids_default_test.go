package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestKubeletLimitsThroughApply(t *testing.T) {
	ft := newFakeTree(t, MissingError, allControllers...)
	ft.cgroup("/ctr", allControllers, leafFiles)
	// What kubelet sends a burstable container, as pkg/oci/spec translates it.
	in := &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Shares: ptr(uint64(102)), Quota: ptr(int64(20000)), Period: ptr(uint64(100000))},
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(64 << 20))},
	}
	if err := ft.manager("/ctr").Apply(WithDefaultPidsLimit(in, 1024)); err != nil {
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
