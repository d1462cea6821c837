package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/ids"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// Pods finds the pod sandboxes containers run in; *sandbox.Manager is one.
type Pods interface {
	Get(id string) (*sandbox.Sandbox, error)
}

// Options configure a Manager.
type Options struct {
	// StateDir holds the containers' bundles, StateDir/containers/<id>.
	StateDir string
	// Store holds the container records (table "containers").
	Store *store.Store
	// Runtime runs the containers.
	Runtime *oci.Runtime
	// Images provides images and the containers' writable layers.
	Images *image.Store
	Pods   Pods
	// Cgroups is the cgroup v2 hierarchy the containers' cgroups are in:
	// read for OOM kills when a container exits, and used to remove the
	// cgroup of a container whose OCI state was lost. Without it no exit
	// is OOMKilled.
	Cgroups *cgroups.Hierarchy
	// CgroupDriver is "cgroupfs" or "systemd", as for pods.
	CgroupDriver string
	// DefaultPidsLimit is pids.max for containers that set none; 0 is
	// none.
	DefaultPidsLimit int64
}

// Manager runs CRI containers.
type Manager struct {
	opts    Options
	records *store.Table[Container]
	bundles string
	bootID  string

	// ctx ends the exit watchers when the manager closes; the containers
	// keep running.
	ctx      context.Context
	cancel   context.CancelFunc
	watchers sync.WaitGroup

	mu         sync.Mutex
	containers map[string]*Container // by id; published records, never changed
	names      map[string]string     // reserved container name → id
	ops        map[string]*sync.Mutex
	exits      map[string]*exitWatch
	lastStats  map[string]*cgroups.Stats // by id: the sample before the next
	// subscribers get the containers' lifecycle events.
	subscribers map[chan Event]struct{}
}

// NewManager opens the container records and recovers what a previous
// daemon left: containers a crash left half-made are undone, containers
// that exited meanwhile get their exit recorded, and running ones are
// watched again.
func NewManager(ctx context.Context, opts Options) (*Manager, error) {
	records, err := store.NewTable[Container](opts.Store, "containers")
	if err != nil {
		return nil, err
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil, fmt.Errorf("read boot id: %w", err)
	}
	bundles := filepath.Join(opts.StateDir, "containers")
	if err := os.MkdirAll(bundles, 0o711); err != nil {
		return nil, fmt.Errorf("create %s: %w", bundles, err)
	}
	m := &Manager{
		opts:        opts,
		records:     records,
		bundles:     bundles,
		bootID:      strings.TrimSpace(string(bootID)),
		containers:  map[string]*Container{},
		names:       map[string]string{},
		ops:         map[string]*sync.Mutex{},
		exits:       map[string]*exitWatch{},
		lastStats:   map[string]*cgroups.Stats{},
		subscribers: map[chan Event]struct{}{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.recover(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close stops watching the containers for their exit. The containers keep
// running, and their monitors record their exits for the next Manager.
func (m *Manager) Close() error {
	m.cancel()
	m.watchers.Wait()
	return nil
}

// nameKey is the name a container reserves: kubelet never reuses one for a
// different container while the first exists.
func nameKey(md Metadata, pod *sandbox.Sandbox) string {
	p := pod.Spec.Metadata
	return fmt.Sprintf("%s_%s_%s_%s_%d", md.Name, p.Name, p.Namespace, p.UID, md.Attempt)
}

// release forgets container id and frees its name key.
func (m *Manager) release(id, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[key] == id {
		delete(m.names, key)
	}
	delete(m.ops, id)
	if last, ok := m.containers[id]; ok && last.State != StateCreating {
		m.emit(Event{Type: EventDeleted, Container: clone(last), At: time.Now()})
	}
	delete(m.containers, id)
	delete(m.exits, id)
	delete(m.lastStats, id)
}

// lookup resolves id, or a unique prefix of one, to its container and
// operation lock.
func (m *Manager) lookup(id string) (*Container, *sync.Mutex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	full, err := ids.Resolve(m.containers, id, "container", "container_id")
	if err != nil {
		return nil, nil, err
	}
	return m.containers[full], m.ops[full], nil
}

// current returns a private copy of the published record of id, for an
// operation (holding the container's operation lock) to change and
// publish; nil once the container is gone.
func (m *Manager) current(id string) *Container {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.containers[id]
	if !ok {
		return nil
	}
	return clone(c)
}

// acquire resolves id and takes the container's operation lock. It returns
// a private copy of the record for the operation to change and publish,
// and the unlock. A container removed while the caller waited is NotFound.
func (m *Manager) acquire(id string) (*Container, func(), error) {
	c, op, err := m.lookup(id)
	if err != nil {
		return nil, nil, err
	}
	op.Lock()
	cur := m.current(c.ID)
	if cur == nil {
		op.Unlock()
		return nil, nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return cur, op.Unlock, nil
}

// publish makes c the container's record that readers see. Published
// records are never changed again, so readers need only the index lock.
func (m *Manager) publish(c *Container) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.containers[c.ID]
	m.containers[c.ID] = c
	if t, ok := transition(prev, c); ok {
		m.emit(Event{Type: t, Container: clone(c), At: time.Now()})
	}
}

// save stores c and publishes it.
func (m *Manager) save(c *Container) error {
	if err := m.records.Put(c.ID, c); err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	m.publish(c)
	return nil
}

// Get returns a copy of the container with id or a unique prefix of it.
func (m *Manager) Get(id string) (*Container, error) {
	c, _, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	return clone(c), nil
}

// List returns copies of every container, oldest first.
func (m *Manager) List() []*Container {
	m.mu.Lock()
	out := make([]*Container, 0, len(m.containers))
	for _, c := range m.containers {
		out = append(out, clone(c))
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// podContainers returns the ids of the containers of pod podID.
func (m *Manager) podContainers(podID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, c := range m.containers {
		if c.PodID == podID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
