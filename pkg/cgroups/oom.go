package cgroups

import (
	"fmt"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// OOMKillCount returns memory.events oom_kill: how many processes in the
// cgroup's subtree the OOM killer has killed. A container whose count is
// above zero when it exits was OOM-killed (CRI reason "OOMKilled"). Without
// the memory controller the count is 0: nothing can be OOM-killed for this
// cgroup's limit.
func (m *Manager) OOMKillCount() (uint64, error) {
	if !fileExists(m.dir, "memory.events") {
		if !m.Exists() {
			return 0, fmt.Errorf("oom kill count: cgroup %s: %w", m.dir, errdefs.ErrNotFound)
		}
		return 0, nil
	}
	ev, err := m.memoryEvents()
	if err != nil {
		return 0, m.notFound(fmt.Errorf("oom kill count: %w", err))
	}
	return ev.OOMKill, nil
}

// OOMKilled reports whether the OOM killer killed any process of the
// cgroup.
func (m *Manager) OOMKilled() (bool, error) {
	n, err := m.OOMKillCount()
	return n > 0, err
}
