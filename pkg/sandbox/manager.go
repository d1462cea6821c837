package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/ids"
	"github.com/crisp-runtime/crisp/pkg/network"
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
}

// Manager runs pod sandboxes.
type Manager struct {
	opts       Options
	records    *store.Table[Sandbox]
	pins       pinner
	bootID     string
	containers ContainerStopper

	// testHookPlanned, when set, sees every pod once its parts are
	// planned: tests learn the cgroups of pods whose Run failed.
	testHookPlanned func(*Sandbox)

	mu        sync.Mutex
	pods      map[string]*Sandbox // by id
	names     map[string]string   // reserved pod name → id
	ops       map[string]*sync.Mutex
	lastStats map[string]*cgroups.Stats
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
		opts:      opts,
		records:   records,
		pins:      pinner{dir: filepath.Join(opts.StateDir, "ns")},
		bootID:    strings.TrimSpace(string(bootID)),
		pods:      map[string]*Sandbox{},
		names:     map[string]string{},
		ops:       map[string]*sync.Mutex{},
		lastStats: map[string]*cgroups.Stats{},
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

func (m *Manager) release(id, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[key] == id {
		delete(m.names, key)
	}
	delete(m.ops, id)
	delete(m.pods, id)
	delete(m.lastStats, id)
}

// lookup resolves id, or a unique prefix of one, to its pod and operation
// lock.
func (m *Manager) lookup(id string) (*Sandbox, *sync.Mutex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	full, err := ids.Resolve(m.pods, id, "pod sandbox", "pod_sandbox_id")
	if err != nil {
		return nil, nil, err
	}
	return m.pods[full], m.ops[full], nil
}

// current returns a private copy of the published record of id, for an
// operation (holding the pod's operation lock) to change and publish.
func (m *Manager) current(id string) *Sandbox {
	m.mu.Lock()
	defer m.mu.Unlock()
	return clone(m.pods[id])
}

// publish makes sb the pod's record that readers see. Published records
// are never changed again, so readers need only the index lock.
func (m *Manager) publish(sb *Sandbox) {
	m.mu.Lock()
	m.pods[sb.ID] = sb
	m.mu.Unlock()
}

// Get returns a copy of the pod with id or a unique prefix of it.
func (m *Manager) Get(id string) (*Sandbox, error) {
	sb, _, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	return clone(sb), nil
}

// List returns copies of every pod, oldest first.
func (m *Manager) List() []*Sandbox {
	m.mu.Lock()
	out := make([]*Sandbox, 0, len(m.pods))
	for _, sb := range m.pods {
		out = append(out, clone(sb))
	}
	m.mu.Unlock()
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
