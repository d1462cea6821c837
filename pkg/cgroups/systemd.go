package cgroups

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// systemdTimeout bounds systemd calls made by methods without a context,
// and every wait for a systemd job.
const systemdTimeout = 30 * time.Second

// systemdConn is the hierarchy's lazily dialled connection to systemd,
// re-dialled when systemd restarts.
type systemdConn struct {
	mu   sync.Mutex
	conn *sdbus.Conn
}

func (h *Hierarchy) systemdConn() *systemdConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.systemd == nil {
		h.systemd = &systemdConn{}
	}
	return h.systemd
}

// get returns a live connection, dialling systemd's private socket or the
// system bus.
func (s *systemdConn) get(ctx context.Context) (*sdbus.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.conn.Connected() {
		return s.conn, nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	// The connection is shared by later calls: it must not end with the
	// context of the call that happened to dial it (godbus closes a
	// connection when its context is done). A job whose connection closed
	// under it would never report its end.
	conn, err := sdbus.NewWithContext(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("connect to systemd (the systemd cgroup driver needs it): %w: %w", errdefs.ErrUnavailable, err)
	}
	s.conn = conn
	return conn, nil
}

// closeSystemd releases the hierarchy's systemd connection, if one was
// made.
func (h *Hierarchy) closeSystemd() {
	h.mu.Lock()
	s := h.systemd
	h.systemd = nil
	h.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
	}
}

// createUnit makes the cgroup of a systemd-driver manager. A slice is
// started as a transient unit at once. A scope cannot exist without a
// process, so Create only prepares its directory (so that OpenFD works for
// CLONE_INTO_CGROUP) and AddProcess starts the transient scope with
// Delegate=yes around the first process.
func (m *Manager) createUnit(ctx context.Context) error {
	if strings.HasSuffix(m.loc.unit, ".slice") {
		return m.startUnit(ctx, []sdbus.Property{
			sdbus.PropDescription("crisp pod " + m.loc.unit),
			sdbus.PropWants(m.loc.slice),
			{Name: "DefaultDependencies", Value: godbus.MakeVariant(false)},
		})
	}
	// The scope's slice must be running for its directory to exist.
	if m.loc.slice != "-.slice" {
		parent, err := NewManager(m.h, "::"+m.loc.slice)
		if err != nil {
			return err
		}
		if !parent.Exists() {
			if err := parent.createUnit(ctx); err != nil {
				return err
			}
		}
	}
	return m.createDirs()
}

// startScope starts the transient scope unit around pid. systemd adopts the
// directory Create prepared.
func (m *Manager) startScope(ctx context.Context, pid int) error {
	props := []sdbus.Property{
		sdbus.PropDescription("crisp container " + m.loc.unit),
		sdbus.PropSlice(m.loc.slice),
		sdbus.PropPids(uint32(pid)),
		{Name: "Delegate", Value: godbus.MakeVariant(true)},
		{Name: "DefaultDependencies", Value: godbus.MakeVariant(false)},
	}
	props = append(props, unitResourceProperties(m.applied)...)
	// systemd writes its own defaults for the unit's attributes when it
	// realizes the cgroup. Put crisp's limits back on top: the resources
	// applied through this Manager, or else whatever the files held, as
	// when another process applied them.
	var saved []fileWrite
	if m.applied == nil {
		saved = m.snapshot(systemdManagedFiles)
	}
	if err := m.startUnit(ctx, props); err != nil {
		return err
	}
	if m.applied != nil {
		return m.Apply(m.applied)
	}
	for _, w := range saved {
		if cur, err := readFile(m.dir, w.file); err == nil && cur != w.value {
			if err := writeFile(m.dir, w.file, strings.TrimSuffix(w.value, "\n")); err != nil {
				return fmt.Errorf("restore limits after starting %s: %w", m.loc.unit, err)
			}
		}
	}
	return nil
}

// systemdManagedFiles are the attributes systemd sets on a unit's own
// cgroup when it starts it.
var systemdManagedFiles = []string{
	"cpu.weight", "cpu.max", "io.weight", "memory.min", "memory.low", "memory.high",
	"memory.max", "memory.swap.max", "memory.zswap.max", "pids.max",
}

// snapshot reads those of files that exist.
func (m *Manager) snapshot(files []string) []fileWrite {
	var out []fileWrite
	for _, f := range files {
		if v, err := readFile(m.dir, f); err == nil {
			out = append(out, fileWrite{f, v})
		}
	}
	return out
}

// unitActive reports whether systemd runs the manager's unit.
func (m *Manager) unitActive(ctx context.Context) (bool, error) {
	conn, err := m.h.systemdConn().get(ctx)
	if err != nil {
		return false, err
	}
	p, err := conn.GetUnitPropertyContext(ctx, m.loc.unit, "ActiveState")
	if err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return false, nil
		}
		return false, fmt.Errorf("query systemd unit %s: %w", m.loc.unit, err)
	}
	state, _ := p.Value.Value().(string)
	return state == "active" || state == "activating" || state == "reloading", nil
}

// startUnit starts a transient unit and waits for the job to finish. A unit
// that already exists (made by kubelet or an earlier crisp) is fine.
func (m *Manager) startUnit(ctx context.Context, props []sdbus.Property) error {
	ctx, cancel := context.WithTimeout(ctx, systemdTimeout)
	defer cancel()
	conn, err := m.h.systemdConn().get(ctx)
	if err != nil {
		return err
	}
	done := make(chan string, 1)
	if _, err := conn.StartTransientUnitContext(ctx, m.loc.unit, "replace", props, done); err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
			return nil
		}
		return fmt.Errorf("start systemd unit %s: %w", m.loc.unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("start systemd unit %s: job %s", m.loc.unit, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start systemd unit %s: %w", m.loc.unit, ctx.Err())
	}
}

// stopUnit stops the unit, waits for the job and clears a failed state so
// that no unit is left behind. A unit that is not loaded is fine.
func (m *Manager) stopUnit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, systemdTimeout)
	defer cancel()
	conn, err := m.h.systemdConn().get(ctx)
	if err != nil {
		return err
	}
	// Kill first: stopping a scope would give its processes SIGTERM and a
	// 90 s grace period.
	if err := killTree(ctx, m.dir); err != nil && !errors.Is(err, errdefs.ErrNotFound) && m.Exists() {
		return err
	}
	done := make(chan string, 1)
	if _, err := conn.StopUnitContext(ctx, m.loc.unit, "replace", done); err != nil {
		if !isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return fmt.Errorf("stop systemd unit %s: %w", m.loc.unit, err)
		}
	} else {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("stop systemd unit %s: %w", m.loc.unit, ctx.Err())
		}
	}
	if err := conn.ResetFailedUnitContext(ctx, m.loc.unit); err != nil &&
		!isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") && !isDBusError(err, "org.freedesktop.systemd1.LoadFailed") {
		return fmt.Errorf("reset systemd unit %s: %w", m.loc.unit, err)
	}
	return nil
}

// setUnitResources records res for the scope's start and, for a running
// unit, tells systemd the limits it manages, so that a daemon-reload does
// not reset them.
func (m *Manager) setUnitResources(res *specs.LinuxResources) error {
	m.applied = res
	props := unitResourceProperties(res)
	if len(props) == 0 || !m.Exists() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), systemdTimeout)
	defer cancel()
	conn, err := m.h.systemdConn().get(ctx)
	if err != nil {
		return err
	}
	if err := conn.SetUnitPropertiesContext(ctx, m.loc.unit, true, props...); err != nil {
		if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
			return nil
		}
		return fmt.Errorf("set properties of systemd unit %s: %w", m.loc.unit, err)
	}
	return nil
}

// unitResourceProperties translates the limits systemd itself writes into
// unit properties.
func unitResourceProperties(res *specs.LinuxResources) []sdbus.Property {
	if res == nil {
		return nil
	}
	var props []sdbus.Property
	u64 := func(name string, v uint64) {
		props = append(props, sdbus.Property{Name: name, Value: godbus.MakeVariant(v)})
	}
	limit := func(v int64) uint64 {
		if v < 0 {
			return math.MaxUint64
		}
		return uint64(v)
	}
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil && *mem.Limit != 0 {
			u64("MemoryMax", limit(*mem.Limit))
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			u64("MemoryLow", limit(*mem.Reservation))
		}
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		u64("TasksMax", limit(*p.Limit))
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			u64("CPUWeight", CPUSharesToWeight(*c.Shares))
		}
		if c.Quota != nil && *c.Quota != 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			perSec := uint64(math.MaxUint64)
			if *c.Quota > 0 {
				// systemd keeps CPUQuota in 10 ms steps per second:
				// round up so the exact cpu.max crisp writes fits.
				perSec = uint64(*c.Quota) * 1000000 / period
				if r := perSec % 10000; r != 0 {
					perSec += 10000 - r
				}
			}
			u64("CPUQuotaPerSecUSec", perSec)
			u64("CPUQuotaPeriodUSec", period)
		}
	}
	return props
}

func isDBusError(err error, name string) bool {
	var de godbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dep *godbus.Error
	return errors.As(err, &dep) && dep.Name == name
}
