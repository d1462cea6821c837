// Package procmem reads what a container runtime costs the node from
// proc(5): the resident memory, threads and CPU time of its daemon and of
// the helpers it starts per pod or container (shims, monitors). The
// benchmarks measure every runtime through it, the same way.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Selector names a runtime's processes: the daemon, by pid, and its
// helpers, by executable or by an argument they are started with.
type Selector struct {
	// ProcRoot is where proc(5) is mounted: /proc but in tests.
	ProcRoot string
	// PID is the daemon's.
	PID int
	// Exe counts every process that runs this file (the same inode, from
	// any path).
	Exe string
	// Arg counts every process with this exact command line argument.
	Arg string
}

// Enabled reports whether a daemon to measure was named.
func (s Selector) Enabled() bool { return s.PID > 0 }

// Usage is what a set of processes holds.
type Usage struct {
	Procs int `json:"procs"`
	// RSSKiB is the sum of Rss from /proc/PID/smaps_rollup (VmRSS).
	RSSKiB int64 `json:"rss_kib"`
	// PSSKiB is the sum of Pss from /proc/PID/smaps_rollup: pages shared
	// among the processes (the same shim binary, say) count once in all.
	PSSKiB int64 `json:"pss_kib"`
	// AnonKiB is the sum of Anonymous (RssAnon): the part of RSSKiB that is the
	// processes' own memory (heap, stacks), not pages of their binaries
	// and other files.
	AnonKiB int64 `json:"anon_kib"`
	// Threads is the sum of the processes' threads.
	Threads int `json:"threads"`
	// CPUTicks is the CPU time the processes have used so far, user and
	// system, in clock ticks (USER_HZ).
	CPUTicks uint64 `json:"cpu_ticks"`
}

func (u *Usage) add(o Usage) {
	u.Procs += o.Procs
	u.RSSKiB += o.RSSKiB
	u.PSSKiB += o.PSSKiB
	u.AnonKiB += o.AnonKiB
	u.Threads += o.Threads
	u.CPUTicks += o.CPUTicks
}

// Measure reads the daemon's usage and that of the daemon with all its
// helpers, whose pids it returns. The daemon must be there; a helper that
// exits while it is read is left out.
func (s Selector) Measure() (daemon, all Usage, helpers []int, err error) {
	daemon, err = Read(s.ProcRoot, s.PID)
	if err != nil {
		return daemon, all, nil, fmt.Errorf("daemon pid %d: %w", s.PID, err)
	}
	all = daemon
	pids, err := s.Helpers()
	if err != nil {
		return daemon, all, nil, err
	}
	for _, pid := range pids {
		u, err := Read(s.ProcRoot, pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return daemon, all, nil, fmt.Errorf("helper pid %d: %w", pid, err)
		}
		all.add(u)
		helpers = append(helpers, pid)
	}
	return daemon, all, helpers, nil
}

// Helpers lists, in ascending order, the pids other than the daemon's that
// run s.Exe or have s.Arg as an argument.
func (s Selector) Helpers() ([]int, error) {
	if s.Exe == "" && s.Arg == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(s.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var exe os.FileInfo
	if s.Exe != "" {
		if exe, err = os.Stat(s.Exe); err != nil {
			return nil, fmt.Errorf("helpers' executable: %w", err)
		}
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		// The benchmark itself may have the argument, naming it in its
		// flags.
		if err != nil || pid == s.PID || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join(s.ProcRoot, e.Name())
		match := false
		if exe != nil {
			// The same file, whatever path it runs from: crisp executes
			// itself from a detached read-only mount of its binary. Kernel
			// threads and processes that just exited have none.
			fi, err := os.Stat(filepath.Join(dir, "exe"))
			match = err == nil && os.SameFile(fi, exe)
		}
		if !match && s.Arg != "" {
			cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			match = err == nil && slices.Contains(strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00"), s.Arg)
		}
		if match {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// Read reads one process's Rss, Pss and Anonymous (smaps_rollup, one
// consistent sample), Threads (status) and CPU time (stat).
func Read(procRoot string, pid int) (Usage, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	rollup, err := readFields(filepath.Join(dir, "smaps_rollup"), "Rss:", "Pss:", "Anonymous:")
	if err != nil {
		return Usage{}, err
	}
	status, err := readFields(filepath.Join(dir, "status"), "Threads:")
	if err != nil {
		return Usage{}, err
	}
	ticks, err := readCPUTicks(filepath.Join(dir, "stat"))
	if err != nil {
		return Usage{}, err
	}
	return Usage{Procs: 1, RSSKiB: rollup[0], PSSKiB: rollup[1], AnonKiB: rollup[2], Threads: int(status[0]), CPUTicks: ticks}, nil
}

// readFields reads the numbers of the lines "KEY <n>" or "KEY <n> kB" of a
// proc(5) file, in the order of keys; every key must be there.
func readFields(file string, keys ...string) ([]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	values := make([]int64, len(keys))
	found := make([]bool, len(keys))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || len(fields) > 3 || (len(fields) == 3 && fields[2] != "kB") {
			continue
		}
		i := slices.Index(keys, fields[0])
		if i < 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, keys[i], err)
		}
		values[i], found[i] = n, true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if i := slices.Index(found, false); i >= 0 {
		return nil, fmt.Errorf("%s: no %s line", file, keys[i])
	}
	return values, nil
}

// readCPUTicks reads utime plus stime, fields 14 and 15 of
// /proc/PID/stat. The command name, field 2, is in parentheses and may
// hold spaces and parentheses itself: fields are counted after its last
// closing one.
func readCPUTicks(file string) (uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("%s: no command name", file)
	}
	// After the name: state (3), ppid (4), …, utime (14), stime (15).
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the name, want at least 13", file, len(fields))
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: utime: %w", file, err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: stime: %w", file, err)
	}
	return utime + stime, nil
}
