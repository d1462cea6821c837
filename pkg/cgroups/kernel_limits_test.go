package cgroups

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Tests of limits the kernel enforces. They need the controllers of a pure
// cgroup v2 host and run in the project's guests (hack/vm).

func TestKernelMemoryLimitOOMKill(t *testing.T) {
	h := realHierarchy(t, MissingError, "memory")
	m := testCgroup(t, h)
	// memory+swap equal to memory: no swap, so the OOM killer must act.
	if err := m.Apply(memoryLimit(32 << 20)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Fatalf("OOMKillCount before = %d, %v", n, err)
	}
	hog := startHelper(t, m, "alloc:64")
	err := hog.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("allocating 64 MiB under memory.max 32 MiB ended with %v, want SIGKILL", err)
	}
	killed, err := m.OOMKilled()
	if err != nil || !killed {
		t.Fatalf("OOMKilled() = %v, %v; want true", killed, err)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Events.OOMKill == 0 || s.Memory.Events.Max == 0 || s.Memory.Limit != 32<<20 {
		t.Errorf("memory stats after OOM: events %+v limit %d", s.Memory.Events, s.Memory.Limit)
	}
}

func TestKernelMemoryLiveUpdate(t *testing.T) {
	h := realHierarchy(t, MissingError, "memory")
	m := testCgroup(t, h)
	if err := m.Apply(memoryLimit(32 << 20)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	startHelper(t, m, "sleep")
	// Raise the limit under a running process, as UpdateContainerResources
	// does, then prove the new limit holds: 48 MiB now fits.
	if err := m.Apply(memoryLimit(96 << 20)); err != nil {
		t.Fatalf("live Apply: %v", err)
	}
	if v, err := readUint(m.Path(), "memory.max"); err != nil || v != 96<<20 {
		t.Fatalf("memory.max after update = %d, %v", v, err)
	}
	fits := startHelperUntil(t, m, "alloc:48", "ready", "allocated")
	out := make(chan error, 1)
	go func() { out <- fits.Wait() }()
	if n, _ := m.OOMKillCount(); n != 0 {
		t.Errorf("OOM kills after raising the limit: %d", n)
	}
	// Lower it again below what is in use: with no swap allowed the
	// kernel cannot reclaim anonymous memory, so it kills the helper.
	if err := m.Apply(memoryLimit(16 << 20)); err != nil && !strings.Contains(err.Error(), "device or resource busy") {
		t.Fatalf("lowering Apply: %v", err)
	}
	select {
	case err := <-out:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("helper holding 48 MiB under memory.max 16 MiB ended with %v, want SIGKILL", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("helper survived memory.max 16 MiB while holding 48 MiB (memory.current %s)", memoryCurrent(m))
	}
	if n, err := m.OOMKillCount(); err != nil || n == 0 {
		t.Errorf("OOMKillCount after lowering the limit = %d, %v; want > 0", n, err)
	}
}

func memoryCurrent(m *Manager) string {
	v, err := readUint(m.Path(), "memory.current")
	if err != nil {
		return err.Error()
	}
	return strconv.FormatUint(v, 10)
}

func TestKernelCPUQuotaThrottles(t *testing.T) {
	h := realHierarchy(t, MissingError, "cpu")
	m := testCgroup(t, h)
	// 10% of one CPU.
	if err := m.Apply(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(10000)), Period: ptr(uint64(100000))}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	start := time.Now()
	startHelper(t, m, "spin")
	time.Sleep(2 * time.Second)
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if s.CPU.NrThrottled == 0 || s.CPU.ThrottledUsec == 0 {
		t.Errorf("spinner under cpu.max 10%% was never throttled: %+v", s.CPU)
	}
	// Allow one extra period of slack plus start-up before the limit bit.
	limit := uint64(elapsed.Microseconds()/10) + 150000
	if s.CPU.UsageUsec == 0 || s.CPU.UsageUsec > limit {
		t.Errorf("usage %d µs in %v under 10%% quota, want 0 < usage <= %d", s.CPU.UsageUsec, elapsed, limit)
	}
}

func TestKernelPidsLimitStopsForkBomb(t *testing.T) {
	h := realHierarchy(t, MissingError, "pids")
	m := testCgroup(t, h)
	if err := m.Apply(WithDefaultPidsLimit(nil, 8)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	fd, err := m.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	bomb := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 64 ]; do sleep 60 & i=$((i+1)); done; echo spawned; sleep 60`)
	bomb.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	startCmd(t, bomb)
	fd.Close()
	deadline := time.Now().Add(10 * time.Second)
	var events map[string]string
	for time.Now().Before(deadline) {
		text, err := readFile(m.Path(), "pids.events")
		if err != nil {
			t.Fatal(err)
		}
		if events = parseKeyValue(text); events["max"] != "0" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if events["max"] == "0" {
		t.Fatalf("pids.events never counted a refused fork: %v", events)
	}
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids == nil || s.Pids.Current > 8 || s.Pids.Limit != 8 {
		t.Errorf("pids stats %+v, want current <= 8 and limit 8", s.Pids)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	waitUnpopulated(t, m)
}

func TestKernelStatsMatchInterfaceFiles(t *testing.T) {
	h := realHierarchy(t, MissingError)
	m := testCgroup(t, h)
	startHelper(t, m, "spin")
	startHelperUntil(t, m, "alloc:8", "ready", "allocated")
	// Frozen, the counters hold still, so one Stats call and the files
	// read right after must agree exactly.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := m.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Thaw(ctx)
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cpu, _ := readFile(m.Path(), "cpu.stat")
	kv, err := parseFlatKeyed(cpu)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU.UsageUsec != kv["usage_usec"] || s.CPU.UserUsec != kv["user_usec"] || s.CPU.SystemUsec != kv["system_usec"] || s.CPU.UsageUsec == 0 {
		t.Errorf("CPU stats %+v, cpu.stat %v", s.CPU, kv)
	}
	if h.Has("memory") {
		cur, _ := readUint(m.Path(), "memory.current")
		stat, _ := readFile(m.Path(), "memory.stat")
		mkv, _ := parseFlatKeyed(stat)
		if s.Memory == nil {
			t.Fatal("no memory stats with the memory controller")
		}
		// A frozen cgroup's processes allocate nothing, but the kernel
		// still moves charges between memory.current and its per-CPU
		// stocks (up to 64 pages a CPU): the two reads may differ by that.
		slack := uint64(runtime.NumCPU()) * 64 * uint64(os.Getpagesize())
		if absDiff(s.Memory.Usage, cur) > slack || s.Memory.RSS != mkv["anon"] || s.Memory.WorkingSet != s.Memory.Usage-mkv["inactive_file"] {
			t.Errorf("memory stats usage %d rss %d ws %d; files current %d anon %d inactive_file %d",
				s.Memory.Usage, s.Memory.RSS, s.Memory.WorkingSet, cur, mkv["anon"], mkv["inactive_file"])
		}
		if s.Memory.RSS < 8<<20 {
			t.Errorf("anon memory %d below the 8 MiB the helper holds", s.Memory.RSS)
		}
	}
	if h.Has("pids") {
		cur, _ := readUint(m.Path(), "pids.current")
		if s.Pids == nil || s.Pids.Current != cur || cur < 2 {
			t.Errorf("pids stats %+v, pids.current %d", s.Pids, cur)
		}
	}
	if s.CPUPressure == nil && fileExists(m.Path(), "cpu.pressure") {
		if _, err := readFile(m.Path(), "cpu.pressure"); err == nil {
			t.Error("cpu.pressure readable but no CPU pressure in stats")
		}
	}
}

func TestKernelCpusetPinsProcesses(t *testing.T) {
	h := realHierarchy(t, MissingError, "cpuset")
	m := testCgroup(t, h)
	if err := m.Apply(&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	helper := startHelper(t, m, "sleep")
	status, err := readFile("/proc/"+strconv.Itoa(helper.Process.Pid), "status")
	if err != nil {
		t.Fatal(err)
	}
	if kv := parseColonFields(status); kv["Cpus_allowed_list"] != "0" || kv["Mems_allowed_list"] != "0" {
		t.Errorf("helper runs with Cpus_allowed_list %q Mems_allowed_list %q, want 0 and 0", kv["Cpus_allowed_list"], kv["Mems_allowed_list"])
	}
	if eff, _ := readFile(m.Path(), "cpuset.cpus.effective"); strings.TrimSpace(eff) != "0" {
		t.Errorf("cpuset.cpus.effective = %q", eff)
	}
}

// parseColonFields parses /proc/<pid>/status "Key:\tvalue" lines.
func parseColonFields(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// memoryLimit is what kubelet sends a container with a memory limit and
// no swap.
func memoryLimit(limit int64) *specs.LinuxResources {
	return &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(limit), Swap: ptr(limit)}}
}
