package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stats is one sample of a cgroup's accounting. Sections whose controller
// is not enabled in the cgroup are nil.
type Stats struct {
	// Timestamp is when the sample was taken.
	Timestamp time.Time
	// CPU is from cpu.stat, which every cgroup has.
	CPU CPUStats
	// CPULimits is from cpu.weight and cpu.max; nil without the cpu
	// controller.
	CPULimits *CPULimits
	// Memory is from memory.current, memory.max, memory.swap.*,
	// memory.stat and memory.events.
	Memory *MemoryStats
	// Pids is from pids.current and pids.max.
	Pids *PidsStats
	// IO is from io.stat, one entry per device with activity.
	IO []IODeviceStats
	// CPUPressure, MemoryPressure and IOPressure are the pressure stall
	// information (PSI) of the cgroup, nil where the kernel has no PSI.
	CPUPressure, MemoryPressure, IOPressure *Pressure
}

// CPUStats is cpu.stat. Times are in microseconds.
type CPUStats struct {
	UsageUsec, UserUsec, SystemUsec uint64
	// Bandwidth control (cpu.max): periods elapsed, periods in which the
	// cgroup was throttled, and the total time throttled. Zero without
	// the cpu controller.
	NrPeriods, NrThrottled, ThrottledUsec uint64
}

// CPULimits are the cpu controller's settings.
type CPULimits struct {
	// Weight is cpu.weight (1..10000).
	Weight uint64
	// QuotaUsec is cpu.max's quota, Max when unlimited; PeriodUsec its
	// period.
	QuotaUsec, PeriodUsec uint64
}

// MemoryStats is the memory controller's accounting, in bytes.
type MemoryStats struct {
	// Usage is memory.current.
	Usage uint64
	// Limit is memory.max; Max when unlimited.
	Limit uint64
	// Peak is memory.peak, the highest usage seen; zero on kernels before
	// 5.19, which lack the file.
	Peak uint64
	// WorkingSet is Usage minus inactive file pages, floored at zero: the
	// figure kubelet and cAdvisor evict on.
	WorkingSet uint64
	// RSS is anonymous memory (memory.stat anon).
	RSS uint64
	// PageFaults and MajorPageFaults are memory.stat pgfault and
	// pgmajfault.
	PageFaults, MajorPageFaults uint64
	// SwapUsage and SwapLimit are memory.swap.current and memory.swap.max;
	// zero without swap accounting, which SwapAccounted tells.
	SwapUsage, SwapLimit uint64
	SwapAccounted        bool
	// Stat is all of memory.stat.
	Stat map[string]uint64
	// Events is memory.events.
	Events MemoryEvents
}

// MemoryEvents is memory.events: how often each limit was hit.
type MemoryEvents struct {
	Low, High, Max, OOM, OOMKill, OOMGroupKill uint64
}

// PidsStats is the pids controller's accounting.
type PidsStats struct {
	// Current is pids.current.
	Current uint64
	// Limit is pids.max; Max when unlimited.
	Limit uint64
}

// IODeviceStats is one device line of io.stat.
type IODeviceStats struct {
	Major, Minor                        uint32
	ReadBytes, WriteBytes, DiscardBytes uint64
	ReadIOs, WriteIOs, DiscardIOs       uint64
}

// Pressure is one <resource>.pressure file.
type Pressure struct {
	Some, Full PressureData
}

// PressureData is one line of a pressure file: the share of time (percent)
// tasks stalled over 10, 60 and 300 seconds, and the total stall time in
// microseconds.
type PressureData struct {
	Avg10, Avg60, Avg300 float64
	TotalUsec            uint64
}

// Stats samples the cgroup's accounting files.
func (m *Manager) Stats() (*Stats, error) {
	s := &Stats{Timestamp: time.Now()}
	cpu, err := readFile(m.dir, "cpu.stat")
	if err != nil {
		return nil, m.notFound(fmt.Errorf("stats: %w", err))
	}
	kv, err := parseFlatKeyed(cpu)
	if err != nil {
		return nil, fmt.Errorf("stats: parse %s/cpu.stat: %w", m.dir, err)
	}
	s.CPU = CPUStats{
		UsageUsec: kv["usage_usec"], UserUsec: kv["user_usec"], SystemUsec: kv["system_usec"],
		NrPeriods: kv["nr_periods"], NrThrottled: kv["nr_throttled"], ThrottledUsec: kv["throttled_usec"],
	}
	if s.CPULimits, err = m.cpuLimits(); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	if s.Memory, err = m.memoryStats(); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	// A section's first file missing means its controller is off here.
	if cur, err := readUint(m.dir, "pids.current"); err == nil {
		p := &PidsStats{Current: cur}
		if p.Limit, err = readUint(m.dir, "pids.max"); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		s.Pids = p
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stats: %w", err)
	}
	if io, err := readFile(m.dir, "io.stat"); err == nil {
		if s.IO, err = parseIOStat(io); err != nil {
			return nil, fmt.Errorf("stats: parse %s/io.stat: %w", m.dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stats: %w", err)
	}
	for name, dst := range map[string]**Pressure{"cpu.pressure": &s.CPUPressure, "memory.pressure": &s.MemoryPressure, "io.pressure": &s.IOPressure} {
		text, err := readFile(m.dir, name)
		if err != nil {
			// No PSI (psi=0 on the kernel command line) reads as
			// EOPNOTSUPP; no file as ENOENT.
			continue
		}
		if *dst, err = parsePressure(text); err != nil {
			return nil, fmt.Errorf("stats: parse %s/%s: %w", m.dir, name, err)
		}
	}
	return s, nil
}

func (m *Manager) memoryStats() (*MemoryStats, error) {
	usage, err := readUint(m.dir, "memory.current")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ms := &MemoryStats{Usage: usage}
	if ms.Limit, err = readUint(m.dir, "memory.max"); err != nil {
		return nil, err
	}
	if ms.Peak, err = readUint(m.dir, "memory.peak"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	text, err := readFile(m.dir, "memory.stat")
	if err != nil {
		return nil, err
	}
	if ms.Stat, err = parseFlatKeyed(text); err != nil {
		return nil, fmt.Errorf("parse %s/memory.stat: %w", m.dir, err)
	}
	ms.WorkingSet = WorkingSet(ms.Usage, ms.Stat)
	ms.RSS = ms.Stat["anon"]
	ms.PageFaults = ms.Stat["pgfault"]
	ms.MajorPageFaults = ms.Stat["pgmajfault"]
	// No memory.swap.current: the kernel does not account swap.
	if ms.SwapUsage, err = readUint(m.dir, "memory.swap.current"); err == nil {
		if ms.SwapLimit, err = readUint(m.dir, "memory.swap.max"); err != nil {
			return nil, err
		}
		ms.SwapAccounted = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if ms.Events, err = m.memoryEvents(); err != nil {
		return nil, err
	}
	return ms, nil
}

// cpuLimits reads cpu.weight and cpu.max, or returns nil without the cpu
// controller.
func (m *Manager) cpuLimits() (*CPULimits, error) {
	weight, err := readUint(m.dir, "cpu.weight")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	text, err := readFile(m.dir, "cpu.max")
	if err != nil {
		return nil, err
	}
	quota, period, ok := strings.Cut(strings.TrimSpace(text), " ")
	if !ok {
		return nil, fmt.Errorf("parse %s/cpu.max: %q is not \"quota period\"", m.dir, text)
	}
	l := &CPULimits{Weight: weight}
	if l.QuotaUsec, err = parseUint(quota); err != nil {
		return nil, fmt.Errorf("parse %s/cpu.max: %w", m.dir, err)
	}
	if l.PeriodUsec, err = strconv.ParseUint(period, 10, 64); err != nil {
		return nil, fmt.Errorf("parse %s/cpu.max: %w", m.dir, err)
	}
	return l, nil
}

// WorkingSet computes the working set as kubelet and cAdvisor do: usage
// minus inactive file pages (which the kernel reclaims first), floored at 0.
func WorkingSet(usage uint64, memoryStat map[string]uint64) uint64 {
	inactive := memoryStat["inactive_file"]
	if inactive >= usage {
		return 0
	}
	return usage - inactive
}

func (m *Manager) memoryEvents() (MemoryEvents, error) {
	text, err := readFile(m.dir, "memory.events")
	if err != nil {
		return MemoryEvents{}, err
	}
	kv, err := parseFlatKeyed(text)
	if err != nil {
		return MemoryEvents{}, fmt.Errorf("parse %s/memory.events: %w", m.dir, err)
	}
	return MemoryEvents{
		Low: kv["low"], High: kv["high"], Max: kv["max"], OOM: kv["oom"],
		OOMKill: kv["oom_kill"], OOMGroupKill: kv["oom_group_kill"],
	}, nil
}

// parseFlatKeyed parses the cgroup v2 flat keyed format: "key value" lines.
func parseFlatKeyed(text string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("line %q is not \"key value\"", line)
		}
		n, err := parseUint(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		out[k] = n
	}
	return out, nil
}

// parseIOStat parses io.stat: "MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4
// dbytes=5 dios=6" per device.
func parseIOStat(text string) ([]IODeviceStats, error) {
	var devs []IODeviceStats
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		majStr, minStr, ok := strings.Cut(fields[0], ":")
		if !ok {
			return nil, fmt.Errorf("line %q: device %q is not MAJ:MIN", line, fields[0])
		}
		maj, err1 := strconv.ParseUint(majStr, 10, 32)
		minor, err2 := strconv.ParseUint(minStr, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		d := IODeviceStats{Major: uint32(maj), Minor: uint32(minor)}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("line %q: %q is not key=value", line, f)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			switch k {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "dbytes":
				d.DiscardBytes = n
			case "rios":
				d.ReadIOs = n
			case "wios":
				d.WriteIOs = n
			case "dios":
				d.DiscardIOs = n
			}
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// parsePressure parses a PSI file:
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull ...".
func parsePressure(text string) (*Pressure, error) {
	p := &Pressure{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var d *PressureData
		switch fields[0] {
		case "some":
			d = &p.Some
		case "full":
			d = &p.Full
		default:
			return nil, fmt.Errorf("line %q: unknown kind %q", line, fields[0])
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("line %q: %q is not key=value", line, f)
			}
			var err error
			switch k {
			case "avg10":
				d.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				d.TotalUsec, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
	}
	return p, nil
}

// DeviceName returns the block device's node, /dev/<name>, as sysfs names
// it, or "MAJ:MIN" when sysfs does not know the device.
func (d IODeviceStats) DeviceName() string {
	num := fmt.Sprintf("%d:%d", d.Major, d.Minor)
	target, err := os.Readlink("/sys/dev/block/" + num)
	if err != nil {
		return num
	}
	return "/dev/" + filepath.Base(target)
}
