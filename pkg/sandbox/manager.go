package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/registry"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// Network attaches pods to and detaches them from the pod network.
type Network interface {
	Attach(ctx context.Context, pod *network.Pod) (*network.Result, error)
	Detach(ctx context.Context, pod *network.Pod) error
}

// ContainerStopper stops and removes the containers of a pod. The container
// manager provides it; until one is set, pods have no containers.
type ContainerStopper interface {
	// StopPodContainers stops every container of the pod.
	StopPodContainers(ctx context.Context, podID string) error
	// RemovePodContainers removes every container of the pod, stopping
	// those still running.
	RemovePodContainers(ctx context.Context, podID string) error
}

// Options configure a Manager.
type Options struct {
	// StateDir holds pins (StateDir/ns) and pod files (StateDir/pods).
	StateDir string
	// Store holds the pod records.
	Store   *store.Store
	Network Network
	// Cgroups is the cgroup v2 hierarchy pods' cgroups are made in, with
	// CgroupDriver ("cgroupfs" or "systemd") saying how.
	Cgroups      *cgroups.Hierarchy
	CgroupDriver string
	// RuntimeHandlers are the handler names pods may ask for; "" is the
	// default handler and always allowed.
	RuntimeHandlers []string
	// NRI, when set, tells NRI plugins of every pod's lifecycle.
	NRI NRI
}

// Manager runs pod sandboxes.
type Manager struct {
	opts       Options
	records    *store.Table[Sandbox]
	index      *registry.Registry[Sandbox, cgroups.Stats]
	pins       pinner
	bootID     string
	containers ContainerStopper

	// testHookPlanned, when set, sees every pod once its parts are
	// planned: tests learn the cgroups of pods whose Run failed.
	testHookPlanned func(*Sandbox)
	// testHookStep, when set, runs before each step of making a pod, with
	// the step's name; an error fails the step. Tests fail Run at every
	// step with it, or end the goroutine there as a crash would.
	testHookStep func(step string) error
}

// NewManager opens the pod records and recovers what a previous daemon left:
// pods a crash left half-made are undone; pods from an earlier boot, or
// whose pins are gone, are marked not ready for kubelet to remove.
func NewManager(ctx context.Context, opts Options) (*Manager, error) {
	records, err := store.NewTable[Sandbox](opts.Store, "sandboxes")
	if err != nil {
		return nil, err
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil, fmt.Errorf("read boot id: %w", err)
	}
	m := &Manager{
		opts:    opts,
		records: records,
		index:   registry.New[Sandbox, cgroups.Stats]("pod sandbox", "pod_sandbox_id", clone),
		pins:    pinner{dir: filepath.Join(opts.StateDir, "ns")},
		bootID:  strings.TrimSpace(string(bootID)),
	}
	if err := m.pins.prepare(); err != nil {
		return nil, err
	}
	if err := m.recover(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// SetContainerStopper connects the container manager, which StopPodSandbox
// uses to stop a pod's containers first.
func (m *Manager) SetContainerStopper(c ContainerStopper) { m.containers = c }

// nameKey is the name a pod reserves: kubelet never reuses one for a
// different pod while the first exists.
func nameKey(md Metadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", md.Name, md.Namespace, md.UID, md.Attempt)
}

// step runs the step test hook, if any, before the named step of Run.
func (m *Manager) step(name string) error {
	if m.testHookStep == nil {
		return nil
	}
	return m.testHookStep(name)
}

// Get returns a copy of the pod with id or a unique prefix of it.
func (m *Manager) Get(id string) (*Sandbox, error) {
	return m.index.Get(id)
}

// Hold keeps the pod with id, or a unique prefix of it, from being
// stopped, removed or changed until release is called, and returns a copy
// of it. Holds do not exclude each other. A container being created holds
// its pod, so that removing the pod waits for it and never leaves a
// container (or its cgroup below the pod's) behind.
func (m *Manager) Hold(id string) (sb *Sandbox, release func(), err error) {
	return m.index.AcquireShared(id)
}

// List returns copies of every pod, oldest first.
func (m *Manager) List() []*Sandbox {
	out := m.index.List()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// clone copies sb deeply enough that callers cannot change the manager's
// record.
func clone(sb *Sandbox) *Sandbox {
	c := *sb
	c.Namespaces = make(map[NamespaceKind]string, len(sb.Namespaces))
	for k, v := range sb.Namespaces {
		c.Namespaces[k] = v
	}
	c.IPs = append(c.IPs[:0:0], sb.IPs...)
	return &c
}
