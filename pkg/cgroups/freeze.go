package cgroups

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// FreezeState is the state of a cgroup's freezer.
type FreezeState string

// Freezer states.
const (
	// Thawed: processes run.
	Thawed FreezeState = "thawed"
	// Freezing: a freeze was requested and some processes have not stopped
	// yet.
	Freezing FreezeState = "freezing"
	// Frozen: every process in the subtree is stopped.
	Frozen FreezeState = "frozen"
)

// Freeze stops every process in the cgroup's subtree through cgroup.freeze
// and waits until cgroup.events reports "frozen 1".
func (m *Manager) Freeze(ctx context.Context) error {
	return m.setFrozen(ctx, true)
}

// Thaw lets the processes frozen by Freeze run again and waits until
// cgroup.events reports "frozen 0".
func (m *Manager) Thaw(ctx context.Context) error {
	return m.setFrozen(ctx, false)
}

func (m *Manager) setFrozen(ctx context.Context, frozen bool) error {
	value, verb := "0", "thaw"
	if frozen {
		value, verb = "1", "freeze"
	}
	if err := writeFile(m.dir, "cgroup.freeze", value); err != nil {
		return m.notFound(fmt.Errorf("%s: %w", verb, err))
	}
	// The kernel flips "frozen" in cgroup.events once every task has
	// stopped; that takes microseconds for idle tasks and longer for tasks
	// in the middle of a system call, so poll with a growing delay.
	delay := 100 * time.Microsecond
	for {
		ev, err := m.events()
		if err != nil {
			return fmt.Errorf("%s: %w", verb, err)
		}
		if ev["frozen"] == value {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: waiting for frozen %s in cgroup.events: %w", verb, m.dir, value, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}

// FreezeState reports whether the cgroup is thawed, freezing or frozen.
func (m *Manager) FreezeState() (FreezeState, error) {
	want, err := readFile(m.dir, "cgroup.freeze")
	if err != nil {
		return "", m.notFound(err)
	}
	ev, err := m.events()
	if err != nil {
		return "", err
	}
	switch {
	case ev["frozen"] == "1":
		return Frozen, nil
	case strings.TrimSpace(want) == "1":
		return Freezing, nil
	}
	return Thawed, nil
}

// events parses cgroup.events ("populated 1\nfrozen 0\n").
func (m *Manager) events() (map[string]string, error) {
	s, err := readFile(m.dir, "cgroup.events")
	if err != nil {
		return nil, m.notFound(err)
	}
	return parseKeyValue(s), nil
}

// Populated reports whether any process lives in the cgroup's subtree.
func (m *Manager) Populated() (bool, error) {
	ev, err := m.events()
	if err != nil {
		return false, err
	}
	return ev["populated"] == "1", nil
}

// parseKeyValue parses "key value" lines, as in cgroup.events.
func parseKeyValue(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
