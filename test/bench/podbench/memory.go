package main

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

// The points of a run at which podbench measures the runtime's memory.
const (
	// memoryIdle is after the image pull and the warm-up iterations, with
	// no pod left.
	memoryIdle = "idle"
	// memoryLoaded is with the -hold pods running one container each.
	memoryLoaded = "loaded"
)

// memorySelector names a runtime's processes: the daemon, by pid, and the
// helpers it starts per pod or container (shims, monitors), by executable
// path or by an argument they are started with.
type memorySelector struct {
	// procRoot is where proc(5) is mounted, /proc but in tests.
	procRoot string
	// pid is the daemon's.
	pid int
	// exe counts every process that runs this file (the same inode, from
	// any path).
	exe string
	// arg counts every process with this exact command line argument.
	arg string
}

// enabled reports whether a daemon to measure was named.
func (s memorySelector) enabled() bool { return s.pid > 0 }

// processMemory is the resident memory of a set of processes.
type processMemory struct {
	Procs int `json:"procs"`
	// RSSKiB is the sum of VmRSS from /proc/PID/status.
	RSSKiB int64 `json:"rss_kib"`
	// PSSKiB is the sum of Pss from /proc/PID/smaps_rollup: pages shared
	// among the processes (the same shim binary, say) count once in all.
	PSSKiB int64 `json:"pss_kib"`
	// AnonKiB is the sum of RssAnon: the part of RSSKiB that is the
	// processes' own memory (heap, stacks), not pages of their binaries
	// and other files.
	AnonKiB int64 `json:"anon_kib"`
}

func (m *processMemory) add(o processMemory) {
	m.Procs += o.Procs
	m.RSSKiB += o.RSSKiB
	m.PSSKiB += o.PSSKiB
	m.AnonKiB += o.AnonKiB
}

// memoryPoint is a runtime's memory at one point of a run.
type memoryPoint struct {
	// Pods is how many pods, each with one running container, there were.
	Pods int `json:"pods"`
	// Daemon is the daemon process alone, All the daemon and its helpers.
	Daemon processMemory `json:"daemon"`
	All    processMemory `json:"all"`
	// Helpers lists the pids counted besides the daemon.
	Helpers []int `json:"helpers,omitempty"`
}

// measure reads the memory of the selected processes. The daemon must be
// there; a helper that exits while it is read is left out.
func (s memorySelector) measure(pods int) (memoryPoint, error) {
	p := memoryPoint{Pods: pods}
	daemon, err := readProcessMemory(s.procRoot, s.pid)
	if err != nil {
		return p, fmt.Errorf("daemon pid %d: %w", s.pid, err)
	}
	p.Daemon, p.All = daemon, daemon
	helpers, err := s.helpers()
	if err != nil {
		return p, err
	}
	for _, pid := range helpers {
		m, err := readProcessMemory(s.procRoot, pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return p, fmt.Errorf("helper pid %d: %w", pid, err)
		}
		p.All.add(m)
		p.Helpers = append(p.Helpers, pid)
	}
	return p, nil
}

// helpers lists, in ascending order, the pids other than the daemon's that
// run s.exe or have s.arg as an argument.
func (s memorySelector) helpers() ([]int, error) {
	if s.exe == "" && s.arg == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(s.procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var exe os.FileInfo
	if s.exe != "" {
		if exe, err = os.Stat(s.exe); err != nil {
			return nil, fmt.Errorf("helpers' executable: %w", err)
		}
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		// podbench itself may have the argument, naming it in its flags.
		if err != nil || pid == s.pid || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join(s.procRoot, e.Name())
		match := false
		if exe != nil {
			// The same file, whatever path it runs from: crisp executes
			// itself from a detached read-only mount of its binary. Kernel
			// threads and processes that just exited have none.
			fi, err := os.Stat(filepath.Join(dir, "exe"))
			match = err == nil && os.SameFile(fi, exe)
		}
		if !match && s.arg != "" {
			cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			match = err == nil && slices.Contains(strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00"), s.arg)
		}
		if match {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// readProcessMemory reads one process's VmRSS, RssAnon and Pss.
func readProcessMemory(procRoot string, pid int) (processMemory, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	rss, err := readKiB(filepath.Join(dir, "status"), "VmRSS:")
	if err != nil {
		return processMemory{}, err
	}
	anon, err := readKiB(filepath.Join(dir, "status"), "RssAnon:")
	if err != nil {
		return processMemory{}, err
	}
	pss, err := readKiB(filepath.Join(dir, "smaps_rollup"), "Pss:")
	if err != nil {
		return processMemory{}, err
	}
	return processMemory{Procs: 1, RSSKiB: rss, PSSKiB: pss, AnonKiB: anon}, nil
}

// readKiB reads the value of the line "KEY <n> kB" of a proc(5) file.
func readKiB(file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[0] != key || fields[2] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", file, key, err)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return 0, fmt.Errorf("%s: no %s line", file, key)
}
