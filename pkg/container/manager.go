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

	"k8s.io/klog/v2"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/pending"
	"github.com/crisp-runtime/crisp/pkg/registry"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// Pods finds the pod sandboxes containers run in; *sandbox.Manager is one.
type Pods interface {
	Get(id string) (*sandbox.Sandbox, error)
	// Hold keeps pod id from being stopped or removed until release is
	// called: a container is created holding its pod.
	Hold(id string) (sb *sandbox.Sandbox, release func(), err error)
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
	// CheckpointDir is where checkpoint archives are assembled, on disk
	// (CRIU's images can be as large as a container's memory); what a
	// crash left there is removed at start. Empty: CheckpointContainer is
	// unavailable.
	CheckpointDir string
	Pods          Pods
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
	// AppArmor is the host's AppArmor; nil, or a host where it is not
	// enabled, means containers run without profiles and a Localhost
	// profile is refused.
	AppArmor *apparmor.Host
	// CDISpecDirs are the directories CDI specs are read from; none
	// refuses every CDI device.
	CDISpecDirs []string
	// Observer, when set, is told how long each start took.
	Observer StartObserver
	// NRI, when set, tells NRI plugins of every container's lifecycle
	// and applies their adjustments.
	NRI NRI
}

// StartObserver is told how long starting a container's process took and
// how it ended.
type StartObserver interface {
	ObserveStart(d time.Duration, err error)
}

// Manager runs CRI containers.
type Manager struct {
	opts    Options
	records *store.Table[Container]
	bundles string
	// retired has the bundles of removed containers whose records are
	// being deleted (retire.go).
	retired string
	// removals are the deletions of retired containers.
	removals pending.Work
	bootID   string

	// ctx ends the exit watchers when the manager closes; the containers
	// keep running.
	ctx      context.Context
	cancel   context.CancelFunc
	watchers sync.WaitGroup

	// index has the published records, the reserved names, the
	// per-container operation locks and the last stats samples.
	index *registry.Registry[Container, cgroups.Stats]

	// cdi resolves CDI devices; nil without spec directories.
	cdi *cdi.Cache

	// testHookStep, when set, runs before each step of making a container
	// and of removing one, with the step's name; an error fails the step.
	// Tests fail Create at every step with it, hold it there, or end the
	// goroutine there as a crash would.
	testHookStep func(step string) error
	// testHookRecord, when set, runs in Create's record write before the
	// record is stored. Tests hold it there to stand for a daemon that
	// dies before the record is durable.
	testHookRecord func()

	mu    sync.Mutex
	exits map[string]*exitWatch
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
	if err := os.MkdirAll(bundles, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", bundles, err)
	}
	retired := retiredDir(opts.StateDir)
	if err := os.MkdirAll(retired, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", retired, err)
	}
	m := &Manager{
		opts:        opts,
		records:     records,
		bundles:     bundles,
		retired:     retired,
		bootID:      strings.TrimSpace(string(bootID)),
		index:       registry.New[Container, cgroups.Stats]("container", "container_id", clone),
		exits:       map[string]*exitWatch{},
		subscribers: map[chan Event]struct{}{},
	}
	if opts.AppArmor != nil && !opts.AppArmor.Enabled() {
		klog.InfoS("AppArmor is not enabled on this host: containers that ask for the runtime default profile run without one, and Localhost profiles are refused")
		m.opts.AppArmor = nil
	}
	if len(opts.CDISpecDirs) > 0 {
		// Read again at each use, not watched: no goroutine per
		// directory for a feature most nodes do not use.
		cache, err := cdi.NewCache(cdi.WithSpecDirs(opts.CDISpecDirs...), cdi.WithAutoRefresh(false))
		if cache == nil {
			return nil, fmt.Errorf("CDI spec directories: %w", err)
		}
		if err != nil {
			klog.InfoS("Some CDI specs could not be read", "err", err)
		}
		m.cdi = cache
	}
	if opts.CheckpointDir != "" {
		// Checkpoints a crash cut short: no RPC is running yet.
		if err := os.RemoveAll(opts.CheckpointDir); err != nil {
			klog.ErrorS(err, "Removing unfinished checkpoints", "dir", opts.CheckpointDir)
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.recover(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close stops watching the containers for their exit and waits for the
// deletions of removed containers. The containers keep running, and their
// monitors record their exits for the next Manager.
func (m *Manager) Close() error {
	m.cancel()
	m.watchers.Wait()
	m.removals.Close()
	return nil
}

// nameKey is the name a container reserves: kubelet never reuses one for a
// different container while the first exists.
func nameKey(md Metadata, pod *sandbox.Sandbox) string {
	p := pod.Spec.Metadata
	return fmt.Sprintf("%s_%s_%s_%s_%d", md.Name, p.Name, p.Namespace, p.UID, md.Attempt)
}

// step runs the step test hook, if any, before the named step of Create or
// Remove.
func (m *Manager) step(name string) error {
	if m.testHookStep == nil {
		return nil
	}
	return m.testHookStep(name)
}

// forget forgets container id, which frees its name, and tells subscribers
// it is deleted. The caller holds the container's operation lock.
func (m *Manager) forget(id string) {
	last := m.index.Forget(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.exits, id)
	if last != nil && last.State != StateCreating {
		m.emit(Event{Type: EventDeleted, Container: clone(last), At: time.Now()})
	}
}

// publish makes c the container's record that readers see, and tells
// subscribers of the step it makes. Published records are never changed
// again, so readers need no operation lock. The caller holds the
// container's operation lock, so its events are sent in order.
func (m *Manager) publish(c *Container) {
	prev, ok := m.index.Publish(c.ID, c)
	if !ok {
		return // removed
	}
	if t, ok := transition(prev, c); ok {
		m.mu.Lock()
		defer m.mu.Unlock()
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
	return m.index.Get(id)
}

// List returns copies of every container, oldest first.
func (m *Manager) List() []*Container {
	out := m.index.List()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// PodContainers returns copies of the containers of pod podID, oldest
// first. Unlike filtering List, it copies only the pod's records: an event
// of one container on a node of a thousand need not copy them all.
func (m *Manager) PodContainers(podID string) []*Container {
	var out []*Container
	for _, id := range m.index.Select(func(c *Container) bool { return c.PodID == podID }) {
		if c, err := m.index.Get(id); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// podContainers returns the ids of the containers of pod podID.
func (m *Manager) podContainers(podID string) []string {
	ids := m.index.Select(func(c *Container) bool { return c.PodID == podID })
	sort.Strings(ids)
	return ids
}
