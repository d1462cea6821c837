package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcessStats counts what the processes of a cgroup subtree hold, as
// cAdvisor reports it per container.
type ProcessStats struct {
	// Processes and Threads are the lines of cgroup.procs and
	// cgroup.threads over the cgroup and its descendants.
	Processes, Threads uint64
	// FileDescriptors are the open descriptors of those processes, and
	// Sockets the descriptors among them that are sockets.
	FileDescriptors, Sockets uint64
}

// ProcessStats walks the cgroup and its descendants and counts their
// processes, threads, open file descriptors and sockets from /proc. A
// process that exits meanwhile is not counted.
func (m *Manager) ProcessStats() (*ProcessStats, error) {
	return processStats(m.dir, "/proc")
}

func processStats(dir, procRoot string) (*ProcessStats, error) {
	st := &ProcessStats{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A child cgroup removed during the walk is no error; the
			// cgroup itself gone is NotFound.
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		pids, err := readProcs(p)
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		threads, err := readFile(p, "cgroup.threads")
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir
			}
			return err
		}
		st.Processes += uint64(len(pids))
		st.Threads += uint64(len(strings.Fields(threads)))
		for _, pid := range pids {
			fds, socks := countFDs(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
			st.FileDescriptors += fds
			st.Sockets += socks
		}
		return nil
	})
	if err != nil {
		return nil, notFound(dir, fmt.Errorf("process stats: %w", err))
	}
	return st, nil
}

// countFDs counts the entries of a /proc/<pid>/fd directory and those that
// are sockets; a process gone meanwhile counts nothing.
func countFDs(fdDir string) (fds, sockets uint64) {
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		fds++
		if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(target, "socket:[") {
			sockets++
		}
	}
	return fds, sockets
}
