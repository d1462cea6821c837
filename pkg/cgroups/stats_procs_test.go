package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestProcessStatsCountsTheSubtree(t *testing.T) {
	ft := newFakeTree(t, MissingError, allControllers...)
	ft.cgroup("/pod", allControllers, nil)
	ft.write("/pod", "cgroup.procs", "")
	ft.write("/pod", "cgroup.threads", "")
	ft.cgroup("/pod/ctr", allControllers, nil)
	ft.write("/pod/ctr", "cgroup.procs", "100\n101\n")
	ft.write("/pod/ctr", "cgroup.threads", "100\n101\n102\n")
	ft.cgroup("/pod/ctr/child", allControllers, nil)
	ft.write("/pod/ctr/child", "cgroup.procs", "200\n")
	ft.write("/pod/ctr/child", "cgroup.threads", "200\n")

	proc := t.TempDir()
	fds := map[string]map[string]string{
		"100": {"0": "/dev/null", "1": "pipe:[7]", "3": "socket:[42]"},
		"101": {"0": "/dev/null"},
		// 200 exited: no /proc entry, counted as a process holding nothing.
	}
	for pid, links := range fds {
		dir := filepath.Join(proc, pid, "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := processStats(filepath.Join(ft.root, "pod"), proc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ProcessStats{Processes: 3, Threads: 4, FileDescriptors: 4, Sockets: 1}); *st != want {
		t.Errorf("ProcessStats = %+v, want %+v", *st, want)
	}
	if _, err := processStats(filepath.Join(ft.root, "gone"), proc); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ProcessStats of a missing cgroup = %v, want NotFound", err)
	}
}

func TestStatsReadsCPULimitsAndPeak(t *testing.T) {
	ft := newFakeTree(t, MissingError, allControllers...)
	ft.cgroup("/ctr", allControllers, nil)
	ft.write("/ctr", "cpu.stat", "usage_usec 1\nuser_usec 1\nsystem_usec 0\n")
	ft.write("/ctr", "cpu.weight", "79\n")
	ft.write("/ctr", "cpu.max", "20000 100000\n")
	ft.write("/ctr", "memory.current", "4096\n")
	ft.write("/ctr", "memory.max", "67108864\n")
	ft.write("/ctr", "memory.peak", "8192\n")
	ft.write("/ctr", "memory.stat", "anon 0\n")
	ft.write("/ctr", "memory.events", "max 0\n")
	s, err := ft.manager("/ctr").Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.CPULimits == nil || *s.CPULimits != (CPULimits{Weight: 79, QuotaUsec: 20000, PeriodUsec: 100000}) {
		t.Errorf("CPULimits = %+v", s.CPULimits)
	}
	if s.Memory == nil || s.Memory.Peak != 8192 || s.Memory.SwapAccounted {
		t.Errorf("Memory = %+v, want peak 8192 and no swap accounting", s.Memory)
	}
	ft.write("/ctr", "cpu.max", "max 100000\n")
	if s, err = ft.manager("/ctr").Stats(); err != nil || s.CPULimits.QuotaUsec != Max {
		t.Errorf("unlimited cpu.max: %+v, %v; want quota Max", s.CPULimits, err)
	}
}
