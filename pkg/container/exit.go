package container

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// unknownExitCode is reported for a container whose exit status is lost,
// as containerd does.
const unknownExitCode = 255

// When the container's init cannot execute the process, it writes
// "crisp init: <why>" to the process's stderr and exits 127.
const (
	initFailureCode   = 127
	initFailurePrefix = "crisp init: "
)

// exitWatch is how a container's init ended, once done is closed.
type exitWatch struct {
	done   chan struct{}
	status *oci.ExitStatus
	err    error // the status could not be learnt
	at     time.Time
}

// watch waits, in the background, for the init of container id to exit and
// records the exit. Operations that end a container (Stop) wait on the
// returned watch's done and record the exit themselves, under their
// operation lock; the watcher then finds it recorded.
func (m *Manager) watch(id string) *exitWatch {
	w := &exitWatch{done: make(chan struct{})}
	m.mu.Lock()
	m.exits[id] = w
	m.mu.Unlock()
	m.watchers.Add(1)
	go func() {
		defer m.watchers.Done()
		st, err := m.opts.Runtime.Wait(m.ctx, id)
		if m.ctx.Err() != nil {
			return // closing: the next manager watches it again
		}
		w.status, w.err, w.at = st, err, m.exitTime(id)
		close(w.done)

		cur, unlock, err := m.index.Acquire(id)
		if err != nil {
			return // removed
		}
		defer unlock()
		if err := m.recordExit(cur, w, "", ""); err != nil {
			klog.ErrorS(err, "Recording container exit", "container", id)
		}
	}()
	return w
}

// exitWatch returns the watch of container id, nil if it has none.
func (m *Manager) exitWatch(id string) *exitWatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exits[id]
}

// exitTime is when the monitor recorded the exit of container id: the time
// of its exit file (docs/oci.md), or now if it cannot be read.
func (m *Manager) exitTime(id string) time.Time {
	if fi, err := os.Stat(filepath.Join(m.opts.Runtime.Root(), id, "exit")); err == nil {
		return fi.ModTime()
	}
	return time.Now()
}

// recordExit marks a created or running container exited as w says, with
// reason and message if given, and saves it. The caller holds the
// container's operation lock.
func (m *Manager) recordExit(c *Container, w *exitWatch, reason, message string) error {
	if c.State != StateCreated && c.State != StateRunning {
		return nil
	}
	c.State, c.Pid, c.FinishedAt = StateExited, 0, w.at
	// The exit file's time is the kernel's coarse clock, which may lag
	// the start time taken just before.
	for _, t := range []time.Time{c.CreatedAt, c.StartedAt} {
		if c.FinishedAt.Before(t) {
			c.FinishedAt = t
		}
	}
	if w.err != nil || w.status == nil {
		c.ExitCode, c.Reason = unknownExitCode, ReasonUnknown
		if w.err != nil {
			c.Message = w.err.Error()
		}
	} else {
		c.ExitCode = int32(w.status.Code)
		c.Reason = m.exitReason(c)
		if c.ExitCode == initFailureCode && c.LogPath != "" {
			if msg := initFailure(c.LogPath); msg != "" {
				c.Reason, c.Message = ReasonCannotRun, msg
			}
		}
	}
	if reason != "" {
		c.Reason = reason
	}
	if message != "" {
		c.Message = message
	}
	klog.InfoS("Container exited", "container", c.ID, "exitCode", c.ExitCode, "reason", c.Reason)
	if err := m.save(c); err != nil {
		return err
	}
	// Stopped or exited on its own, the container stops once: plugins
	// are told here, and only here.
	m.nriNotify(m.ctx, "StopContainer", c, NRI.StopContainer)
	return nil
}

// exitReason says why a container with a known exit code ended: the OOM
// killer, success or failure.
func (m *Manager) exitReason(c *Container) string {
	if m.oomKilled(c) {
		return ReasonOOMKilled
	}
	if c.ExitCode == 0 {
		return ReasonCompleted
	}
	return ReasonError
}

// oomKilled reports whether the OOM killer killed a process of the exited
// container's cgroup while its init ran, as CRI-O reports it: the init or
// any other process, the count being the cgroup's. The monitor's record is
// the answer; the cgroup itself, which systemd may already have removed,
// is read only without one (a container started before crisp recorded
// OOM kills).
func (m *Manager) oomKilled(c *Container) bool {
	n, ok, err := m.opts.Runtime.OOMKills(c.ID)
	if ok {
		return n > 0
	}
	if err != nil {
		klog.ErrorS(err, "Reading the container's OOM record", "container", c.ID)
	}
	if m.opts.Cgroups == nil {
		return false
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, c.CgroupsPath)
	if err != nil || !cg.Exists() {
		return false
	}
	oom, err := cg.OOMKilled()
	if err != nil {
		klog.V(2).InfoS("Cannot tell whether the container was OOM-killed", "container", c.ID, "err", err)
	}
	return oom
}

// initFailure returns the init's complaint if it is the last line of the
// CRI log at path, "" otherwise. The monitor has written the whole log by
// the time the exit is known.
func initFailure(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	buf := make([]byte, min(fi.Size(), 4096))
	if _, err := f.ReadAt(buf, fi.Size()-int64(len(buf))); err != nil {
		return ""
	}
	text := strings.TrimSuffix(string(buf), "\n")
	last := text[strings.LastIndexByte(text, '\n')+1:]
	// <time> <stream> <tag> <text>
	fields := strings.SplitN(last, " ", 4)
	if len(fields) == 4 && fields[1] == "stderr" && strings.HasPrefix(fields[3], initFailurePrefix) {
		return fields[3]
	}
	return ""
}
