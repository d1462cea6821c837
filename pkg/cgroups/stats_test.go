package cgroups

import (
	"errors"
	"reflect"
	"testing"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestStatsFromFakeTree(t *testing.T) {
	ft := newFakeTree(t, MissingError, allControllers...)
	ft.cgroup("/ctr", allControllers, nil)
	ft.write("/ctr", "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 900\nnr_bursts 0\nburst_usec 0\n")
	ft.write("/ctr", "memory.current", "10485760\n")
	ft.write("/ctr", "memory.max", "max\n")
	ft.write("/ctr", "memory.stat", "anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\npgfault 77\npgmajfault 3\n")
	ft.write("/ctr", "memory.events", "low 0\nhigh 1\nmax 2\noom 3\noom_kill 1\noom_group_kill 0\n")
	ft.write("/ctr", "memory.swap.current", "4096\n")
	ft.write("/ctr", "memory.swap.max", "0\n")
	ft.write("/ctr", "pids.current", "3\n")
	ft.write("/ctr", "pids.max", "100\n")
	ft.write("/ctr", "io.stat", "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=5 wbytes=6 rios=7 wios=8 dbytes=9 dios=10\n")
	ft.write("/ctr", "cpu.pressure", "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n")
	ft.write("/ctr", "memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")

	s, err := ft.manager("/ctr").Stats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUStats{UsageUsec: 5000, UserUsec: 3000, SystemUsec: 2000, NrPeriods: 10, NrThrottled: 4, ThrottledUsec: 900}); s.CPU != want {
		t.Errorf("CPU = %+v, want %+v", s.CPU, want)
	}
	mem := s.Memory
	if mem == nil {
		t.Fatal("no memory stats")
	}
	if mem.Usage != 10<<20 || mem.Limit != Max || mem.WorkingSet != 8<<20 || mem.RSS != 4<<20 ||
		mem.PageFaults != 77 || mem.MajorPageFaults != 3 || mem.SwapUsage != 4096 || mem.SwapLimit != 0 {
		t.Errorf("Memory = %+v", mem)
	}
	if want := (MemoryEvents{High: 1, Max: 2, OOM: 3, OOMKill: 1}); mem.Events != want {
		t.Errorf("Events = %+v, want %+v", mem.Events, want)
	}
	if s.Pids == nil || *s.Pids != (PidsStats{Current: 3, Limit: 100}) {
		t.Errorf("Pids = %+v", s.Pids)
	}
	wantIO := []IODeviceStats{
		{Major: 8, Minor: 0, ReadBytes: 1024, WriteBytes: 2048, ReadIOs: 1, WriteIOs: 2},
		{Major: 253, Minor: 1, ReadBytes: 5, WriteBytes: 6, ReadIOs: 7, WriteIOs: 8, DiscardBytes: 9, DiscardIOs: 10},
	}
	if !reflect.DeepEqual(s.IO, wantIO) {
		t.Errorf("IO = %+v, want %+v", s.IO, wantIO)
	}
	if s.CPUPressure == nil || s.CPUPressure.Some != (PressureData{Avg10: 1.5, Avg60: 0.25, TotalUsec: 12345}) || s.CPUPressure.Full.TotalUsec != 99 {
		t.Errorf("CPUPressure = %+v", s.CPUPressure)
	}
	if s.MemoryPressure == nil || s.IOPressure != nil {
		t.Errorf("MemoryPressure = %+v, IOPressure = %+v (no io.pressure file)", s.MemoryPressure, s.IOPressure)
	}
	if n, err := ft.manager("/ctr").OOMKillCount(); err != nil || n != 1 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
}

func TestStatsWithoutControllers(t *testing.T) {
	ft := newFakeTree(t, MissingError)
	ft.cgroup("/ctr", nil, nil)
	ft.write("/ctr", "cpu.stat", "usage_usec 1\nuser_usec 1\nsystem_usec 0\n")
	s, err := ft.manager("/ctr").Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory != nil || s.Pids != nil || s.IO != nil || s.CPU.UsageUsec != 1 {
		t.Errorf("Stats = %+v", s)
	}
	if n, err := ft.manager("/ctr").OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount without memory controller = %d, %v", n, err)
	}
	if _, err := ft.manager("/gone").Stats(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stats of a missing cgroup = %v, want ErrNotFound", err)
	}
	if _, err := ft.manager("/gone").OOMKillCount(); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("OOMKillCount of a missing cgroup = %v, want ErrNotFound", err)
	}
}

func TestWorkingSet(t *testing.T) {
	tests := []struct {
		usage, inactive, want uint64
	}{
		{100, 30, 70},
		{100, 0, 100},
		{100, 100, 0},
		{100, 200, 0}, // inactive_file can lag usage: floored, never wraps
	}
	for _, tt := range tests {
		if got := WorkingSet(tt.usage, map[string]uint64{"inactive_file": tt.inactive}); got != tt.want {
			t.Errorf("WorkingSet(%d, inactive %d) = %d, want %d", tt.usage, tt.inactive, got, tt.want)
		}
	}
}

func TestParsersRejectGarbage(t *testing.T) {
	if _, err := parseFlatKeyed("usage_usec x\n"); err == nil {
		t.Error("parseFlatKeyed accepted a non-number")
	}
	if _, err := parseFlatKeyed("novalue\n"); err == nil {
		t.Error("parseFlatKeyed accepted a line without value")
	}
	if _, err := parseIOStat("8-0 rbytes=1\n"); err == nil {
		t.Error("parseIOStat accepted a bad device")
	}
	if _, err := parseIOStat("8:0 rbytes\n"); err == nil {
		t.Error("parseIOStat accepted a field without value")
	}
	if _, err := parsePressure("most avg10=0\n"); err == nil {
		t.Error("parsePressure accepted an unknown kind")
	}
	if _, err := parsePressure("some avg10=x\n"); err == nil {
		t.Error("parsePressure accepted a bad number")
	}
}

func TestFreezeStateFromFakeTree(t *testing.T) {
	ft := newFakeTree(t, MissingError)
	ft.cgroup("/ctr", nil, nil)
	m := ft.manager("/ctr")
	for _, tt := range []struct {
		freeze, events string
		want           FreezeState
	}{
		{"0\n", "populated 1\nfrozen 0\n", Thawed},
		{"1\n", "populated 1\nfrozen 0\n", Freezing},
		{"1\n", "populated 1\nfrozen 1\n", Frozen},
	} {
		ft.write("/ctr", "cgroup.freeze", tt.freeze)
		ft.write("/ctr", "cgroup.events", tt.events)
		if got, err := m.FreezeState(); err != nil || got != tt.want {
			t.Errorf("FreezeState(freeze %q, events %q) = %v, %v; want %v", tt.freeze, tt.events, got, err, tt.want)
		}
	}
}
