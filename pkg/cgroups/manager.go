package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Manager is one cgroup: a pod's or a container's. It holds no open files and
// no state a fresh process could not rebuild with NewManager, so crisp can
// re-open its cgroups after a restart.
//
// A Manager is not safe for concurrent use; distinct Managers of one
// hierarchy are.
type Manager struct {
	h   *Hierarchy
	loc location
	dir string
	// applied is the last resources Apply wrote, kept for the systemd
	// driver, whose scope is started (and its attributes reset by
	// systemd) only when the first process arrives.
	applied *specs.LinuxResources
}

// NewManager returns the manager for cgroupsPath in OCI form: "/a/b/c"
// (cgroupfs driver, relative to the hierarchy mount) or "slice:prefix:name"
// (systemd driver, as runc reads it). It does not touch the file system.
func NewManager(h *Hierarchy, cgroupsPath string) (*Manager, error) {
	loc, err := parseCgroupsPath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	return &Manager{h: h, loc: loc, dir: filepath.Join(h.mount, loc.rel)}, nil
}

// Path returns the cgroup's absolute directory.
func (m *Manager) Path() string { return m.dir }

// Name returns the cgroup's path below the hierarchy's mount, starting
// with "/": the name cAdvisor gives a container's cgroup.
func (m *Manager) Name() string { return filepath.Join("/", m.loc.rel) }

// Hierarchy returns the hierarchy the cgroup belongs to.
func (m *Manager) Hierarchy() *Hierarchy { return m.h }

// Unit returns the systemd unit that owns the cgroup, or "" for the
// cgroupfs driver.
func (m *Manager) Unit() string { return m.loc.unit }

// Exists reports whether the cgroup directory exists.
func (m *Manager) Exists() bool {
	fi, err := os.Stat(m.dir)
	return err == nil && fi.IsDir()
}

// Create makes the cgroup and enables, in cgroup.subtree_control of every
// ancestor below the mount, the controllers that ancestor offers, so the
// cgroup can use all of them. It is idempotent. The cgroup itself enables
// nothing for children: it is meant to hold processes, and the kernel's
// no-internal-process rule forbids both at once (a pod cgroup gets its
// controllers enabled when its first container cgroup is created).
//
// For the systemd driver, Create starts the transient slice unit of a pod.
// A container's scope cannot exist without a process: Create prepares its
// directory (so OpenFD works for CLONE_INTO_CGROUP) and AddProcess starts
// the scope, with Delegate=yes, around the first process.
//
// A failed Create removes the directories it made.
func (m *Manager) Create(ctx context.Context) error {
	if m.loc.systemd() {
		return m.createUnit(ctx)
	}
	return m.createDirs()
}

// createDirs writes the cgroupfs tree itself.
func (m *Manager) createDirs() error {
	// Fast path, every container of an existing pod: the parent already
	// enables every controller the hierarchy has.
	parent := filepath.Dir(m.dir)
	if enabled, err := readFile(parent, "cgroup.subtree_control"); err == nil && m.h.enablesAll(enabled) {
		if err := os.Mkdir(m.dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", m.dir, err)
		}
		return nil
	}
	return m.createPath()
}

// createPath walks from the mount down, enabling controllers and making
// directories. A failure removes the directories it made.
func (m *Manager) createPath() (retErr error) {
	var made []string
	defer func() {
		if retErr != nil {
			for _, d := range slices.Backward(made) {
				_ = unix.Rmdir(d)
			}
		}
	}()
	dir := m.h.mount
	for _, elem := range strings.Split(strings.TrimPrefix(m.loc.rel, "/"), "/") {
		if err := enableControllers(dir); err != nil {
			return err
		}
		dir = filepath.Join(dir, elem)
		err := os.Mkdir(dir, 0o755)
		switch {
		case err == nil:
			made = append(made, dir)
		case !errors.Is(err, fs.ErrExist):
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// enablesAll reports whether a cgroup.subtree_control content enables every
// controller of the hierarchy.
func (h *Hierarchy) enablesAll(subtreeControl string) bool {
	enabled := strings.Fields(subtreeControl)
	for _, c := range h.available {
		if !slices.Contains(enabled, c) {
			return false
		}
	}
	return true
}

// enableControllers enables in dir's cgroup.subtree_control every controller
// listed in dir's cgroup.controllers that is not enabled yet.
func enableControllers(dir string) error {
	offered, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	enabled, err := readFile(dir, "cgroup.subtree_control")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(enabled) {
		have[c] = true
	}
	var want []string
	for _, c := range strings.Fields(offered) {
		if !have[c] {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	// One write per controller: a multi-controller write fails whole when
	// one of them cannot be enabled.
	for _, w := range want {
		if err := writeFile(dir, "cgroup.subtree_control", w); err != nil {
			if errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("enable controller %s in %s: the cgroup holds processes, and cgroup v2 forbids controllers for children of a cgroup with processes (no internal processes rule): %w",
					w[1:], dir, errdefs.ErrFailedPrecondition)
			}
			return fmt.Errorf("enable controller %s: %w", w[1:], err)
		}
	}
	return nil
}

// Controllers returns the controllers enabled for this cgroup (its
// cgroup.controllers).
func (m *Manager) Controllers() ([]string, error) {
	s, err := readFile(m.dir, "cgroup.controllers")
	if err != nil {
		return nil, m.notFound(err)
	}
	return strings.Fields(s), nil
}

// OpenFD opens the cgroup directory for clone3's CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD). The caller closes it.
func (m *Manager) OpenFD() (*os.File, error) {
	fd, err := unix.Open(m.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, m.notFound(fmt.Errorf("open cgroup %s: %w", m.dir, err))
	}
	return os.NewFile(uintptr(fd), m.dir), nil
}

// AddProcess moves process pid (all its threads) into the cgroup. Call it
// for a container's first process even when that process was cloned into
// the cgroup with CLONE_INTO_CGROUP: for the systemd driver it starts the
// transient scope around the process; otherwise it changes nothing.
func (m *Manager) AddProcess(pid int) error {
	if pid <= 0 {
		return errdefs.InvalidField("pid", fmt.Sprintf("%d is not a process id", pid))
	}
	if strings.HasSuffix(m.loc.unit, ".scope") {
		// The first process brings the systemd scope into being; later
		// ones join it like any cgroup.
		ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
		defer cancel()
		active, err := m.unitActive(ctx)
		if err != nil {
			return err
		}
		if !active {
			return m.startScope(ctx, pid)
		}
	}
	// A process cloned into the cgroup (CLONE_INTO_CGROUP) is there
	// already. Writing cgroup.procs anyway is not free: every migration
	// waits for an RCU grace period, milliseconds on an idle kernel.
	if m.holds(pid) {
		return nil
	}
	if err := writeFile(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return m.notFound(fmt.Errorf("add process %d: %w", pid, err))
	}
	return nil
}

// holds reports whether process pid is in the cgroup itself, as
// /proc/<pid>/cgroup says. Unknown means no.
func (m *Manager) holds(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	rel := "/" + strings.TrimPrefix(strings.TrimPrefix(m.dir, m.h.Mount()), "/")
	for _, line := range strings.Split(string(data), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path == rel
		}
	}
	return false
}

// Procs returns the processes in the cgroup itself (not in descendants).
func (m *Manager) Procs() ([]int, error) {
	return readProcs(m.dir)
}

func readProcs(dir string) ([]int, error) {
	s, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return nil, notFound(dir, err)
	}
	var pids []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s/cgroup.procs: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Destroy removes the cgroup and every cgroup below it, killing whatever
// processes are still inside, and retrying while the kernel reports EBUSY
// for cgroups whose last processes are still exiting. It stops and forgets
// the systemd unit of the systemd driver. A cgroup that is already gone is
// not an error.
func (m *Manager) Destroy(ctx context.Context) error {
	if m.loc.systemd() {
		if err := m.stopUnit(ctx); err != nil {
			return err
		}
	}
	return removeTree(ctx, m.dir)
}

// destroyTimeout bounds Destroy when the caller's context has no deadline: a
// process stuck in uninterruptible sleep must not hang crisp forever.
const destroyTimeout = 10 * time.Second

// removeTree removes dir and its descendant cgroups, deepest first.
func removeTree(ctx context.Context, dir string) error {
	// Fast path: an empty leaf, or one already gone.
	switch err := unix.Rmdir(dir); {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY):
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, destroyTimeout)
		defer cancel()
	}
	if err := killTree(ctx, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return removeDirs(ctx, dir)
}

func removeDirs(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeDirs(ctx, filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			procs, _ := readProcs(dir)
			return fmt.Errorf("remove cgroup %s: still busy (processes %v): %w", dir, procs, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// notFound classifies a missing cgroup directory as errdefs.ErrNotFound.
func (m *Manager) notFound(err error) error { return notFound(m.dir, err) }

func notFound(dir string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errdefs.ErrNotFound) {
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("cgroup %s: %w: %w", dir, errdefs.ErrNotFound, err)
		}
	}
	return err
}
