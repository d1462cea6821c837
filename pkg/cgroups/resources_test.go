package cgroups

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func ptr[T any](v T) *T { return &v }

// leafFiles are the interface files a container cgroup with every
// controller has, as far as Apply writes them.
var leafFiles = []string{
	"cgroup.procs", "cgroup.max.depth", "cgroup.max.descendants",
	"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
	"memory.max", "memory.low", "memory.high", "memory.swap.max",
	"pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "hugetlb.1GB.max",
}

var allControllers = []string{"cpu", "cpuset", "hugetlb", "io", "memory", "pids"}

func TestApplyWritesInterfaceFiles(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want map[string]string
	}{
		{
			name: "cpu shares quota period",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}},
			want: map[string]string{"cpu.weight": "100", "cpu.max": "50000 100000"},
		},
		{
			name: "cpu unlimited quota keeps period",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(-1)), Period: ptr(uint64(50000))}},
			want: map[string]string{"cpu.max": "max 50000", "cpu.weight": ""},
		},
		{
			name: "cpuset and burst and idle",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0", Burst: ptr(uint64(1000)), Idle: ptr(int64(1))}},
			want: map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0", "cpu.max.burst": "1000", "cpu.idle": "1"},
		},
		{
			name: "memory with swap as memory+swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(96 << 20)), Reservation: ptr(int64(16 << 20))}},
			want: map[string]string{"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "16777216"},
		},
		{
			name: "memory without swap allowed",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(64 << 20))}},
			want: map[string]string{"memory.max": "67108864", "memory.swap.max": "0"},
		},
		{
			name: "memory unlimited makes swap unlimited",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}},
			want: map[string]string{"memory.max": "max", "memory.swap.max": "max"},
		},
		{
			name: "pids",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(42))}},
			want: map[string]string{"pids.max": "42"},
		},
		{
			name: "pids unlimited",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(-1))}},
			want: map[string]string{"pids.max": "max"},
		},
		{
			name: "io weight and throttle",
			res: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight:                  ptr(uint16(500)),
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 100}},
			}},
			want: map[string]string{"io.weight": "default 4950", "io.max": "8:0 wiops=100"},
		},
		{
			name: "hugetlb with reservation",
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}, {Pagesize: "1GB", Limit: 1 << 30}}},
			want: map[string]string{"hugetlb.2MB.max": "4194304", "hugetlb.2MB.rsvd.max": "4194304", "hugetlb.1GB.max": "1073741824"},
		},
		{
			name: "unified overrides structured fields",
			res: &specs.LinuxResources{
				Memory:  &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
				Unified: map[string]string{"memory.max": "1000000", "memory.high": "900000", "cgroup.max.depth": "2"},
			},
			want: map[string]string{"memory.max": "1000000", "memory.high": "900000", "cgroup.max.depth": "2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTree(t, MissingError, allControllers...)
			ft.cgroup("/pod", allControllers, nil)
			ft.cgroup("/pod/ctr", allControllers, leafFiles)
			m := ft.manager("/pod/ctr")
			if err := m.Apply(tt.res); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for file, want := range tt.want {
				if got := ft.read("/pod/ctr", file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
		})
	}
}

func TestApplyRejectsBadInputWithoutWriting(t *testing.T) {
	tests := []struct {
		name  string
		res   *specs.LinuxResources
		field string
	}{
		{"swap below memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(100)), Swap: ptr(int64(50))}}, "linux.resources.memory.swap"},
		{"swap without memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr(int64(50))}}, "linux.resources.memory.swap"},
		{"negative memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-7))}}, "linux.resources.memory.limit"},
		{"swappiness", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(10))}}, "linux.resources.memory.swappiness"},
		{"shares too large", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr(uint64(300000))}}, "linux.resources.cpu.shares"},
		{"period too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: ptr(uint64(10))}}, "linux.resources.cpu.period"},
		{"quota too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(10))}}, "linux.resources.cpu.quota"},
		{"bad cpuset", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-a"}}, "linux.resources.cpu.cpus"},
		{"realtime", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1000))}}, "linux.resources.cpu.realtimeRuntime"},
		{"bad page size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M", Limit: 1}}}, "linux.resources.hugepageLimits[0].pageSize"},
		{"unknown page size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "16GB", Limit: 1}}}, "linux.resources.hugepageLimits[0].pageSize"},
		{"blkio weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(5))}}, "linux.resources.blockIO.weight"},
		{"net_cls", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}, "linux.resources.network"},
		{"unified path", &specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, "linux.resources.unified[../memory.max]"},
		{"unified delegation", &specs.LinuxResources{Unified: map[string]string{"cgroup.subtree_control": "+memory"}}, "linux.resources.unified[cgroup.subtree_control]"},
		{"unified unknown file", &specs.LinuxResources{Unified: map[string]string{"memory.stat": "1"}}, "linux.resources.unified[memory.stat]"},
		// A valid structured limit next to a bad one must not be written.
		{"valid and invalid", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}, Unified: map[string]string{"cgroup.procs": "1"}}, "linux.resources.unified[cgroup.procs]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTree(t, MissingError, allControllers...)
			ft.cgroup("/ctr", allControllers, leafFiles)
			err := ft.manager("/ctr").Apply(tt.res)
			var fe *errdefs.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Apply error = %v, want a field error for %s", err, tt.field)
			}
			for _, f := range leafFiles {
				if got := ft.read("/ctr", f); got != "" {
					t.Errorf("%s = %q after a rejected request, want it untouched", f, got)
				}
			}
		})
	}
}

func TestApplyMissingController(t *testing.T) {
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(10))},
	}
	files := []string{"pids.max", "cgroup.procs"}

	t.Run("error names the controller and writes nothing", func(t *testing.T) {
		ft := newFakeTree(t, MissingError, "pids")
		ft.cgroup("/ctr", []string{"pids"}, files)
		err := ft.manager("/ctr").Apply(res)
		if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), `controller "memory"`) {
			t.Fatalf("Apply error = %v, want a failed precondition naming the memory controller", err)
		}
		if got := ft.read("/ctr", "pids.max"); got != "" {
			t.Errorf("pids.max = %q, want untouched", got)
		}
		if s := ft.h.Skipped(); len(s) != 0 {
			t.Errorf("Skipped() = %v under MissingError", s)
		}
	})
	t.Run("warn skips and records", func(t *testing.T) {
		ft := newFakeTree(t, MissingWarn, "pids")
		ft.cgroup("/ctr", []string{"pids"}, files)
		if err := ft.manager("/ctr").Apply(res); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if got := ft.read("/ctr", "pids.max"); got != "10" {
			t.Errorf("pids.max = %q, want 10", got)
		}
		if s := ft.h.Skipped(); len(s) != 1 || s[0] != "memory" {
			t.Errorf("Skipped() = %v, want [memory]", s)
		}
	})
}

func TestCreateEnablesControllersAlongPath(t *testing.T) {
	ft := newFakeTree(t, MissingError, "cpu", "memory", "pids")
	ft.cgroup("/kubepods", []string{"cpu", "memory", "pids"}, nil)
	ft.write("/kubepods", "cgroup.subtree_control", "cpu")
	m := ft.manager("/kubepods/pod1")
	// The fake kernel does not populate new directories: do it for the
	// pod so that the container below it can be created.
	if err := m.Create(t.Context()); err != nil {
		t.Fatalf("Create pod: %v", err)
	}
	if !m.Exists() {
		t.Fatal("pod cgroup not created")
	}
	// Each write replaces the fake file, so the last controller remains.
	if got := ft.read("/", "cgroup.subtree_control"); got != "+pids" {
		t.Errorf("root subtree_control last write = %q, want +pids", got)
	}
	if got := ft.read("/kubepods", "cgroup.subtree_control"); got != "+pids" {
		t.Errorf("kubepods subtree_control last write = %q, want +pids", got)
	}
	if _, err := readFile(m.Path(), "cgroup.subtree_control"); err == nil {
		t.Error("Create wrote subtree_control of the leaf; it must stay free for processes")
	}
	// Idempotent.
	if err := m.Create(t.Context()); err != nil {
		t.Fatalf("second Create: %v", err)
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	ft := newFakeTree(t, MissingError, "cpu")
	m := ft.manager("/a/b/c")
	// /a will be made, then enabling controllers in it fails: the fake
	// kernel does not give new directories a cgroup.controllers file.
	if err := m.Create(t.Context()); err == nil {
		t.Fatal("Create succeeded in a tree the kernel did not populate")
	}
	if _, err := readFile(ft.root, "a/cgroup.controllers"); err == nil {
		t.Fatal("test setup: /a unexpectedly populated")
	}
	if entries, _ := filepath.Glob(filepath.Join(ft.root, "a")); len(entries) != 0 {
		t.Errorf("failed Create left %v behind", entries)
	}
}
