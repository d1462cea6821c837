package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// Network attaches pods to and detaches them from the pod network.
type Network interface {
	Attach(ctx context.Context, pod *network.Pod) (*network.Result, error)
	Detach(ctx context.Context, pod *network.Pod) error
}

// ContainerStopper stops every container of a pod. The container manager
// provides it; until one is set, pods have no containers to stop.
type ContainerStopper interface {
	StopPodContainers(ctx context.Context, podID string) error
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

func (m *Manager) recover(ctx context.Context) error {
	all, err := m.records.List()
	if err != nil {
		return fmt.Errorf("load pod records: %w", err)
	}
	for _, sb := range all {
		if sb.State == StateCreating {
			klog.InfoS("Undoing pod sandbox left half-made by a crash", "pod", sb.ID, "name", sb.Spec.Metadata.Name)
			if err := m.teardown(ctx, sb); err != nil {
				// Keep it, without its name, for RemovePodSandbox or the
				// next start to retry.
				klog.ErrorS(err, "Undoing half-made pod sandbox", "pod", sb.ID)
				m.pods[sb.ID] = sb
				m.ops[sb.ID] = &sync.Mutex{}
				continue
			}
			if err := m.records.Delete(sb.ID); err != nil {
				return err
			}
			continue
		}
		if sb.State == StateReady && !m.intact(sb) {
			klog.InfoS("Pod sandbox lost its namespaces; marking it not ready", "pod", sb.ID)
			sb.State = StateNotReady
			if err := m.records.Put(sb.ID, sb); err != nil {
				return err
			}
		}
		m.pods[sb.ID] = sb
		m.names[nameKey(sb.Spec.Metadata)] = sb.ID
		m.ops[sb.ID] = &sync.Mutex{}
	}
	return nil
}

// intact reports whether a ready pod still has everything it was made with.
func (m *Manager) intact(sb *Sandbox) bool {
	if sb.BootID != m.bootID {
		return false
	}
	for _, path := range sb.Namespaces {
		if ok, err := isNamespacePin(path); err != nil || !ok {
			return false
		}
	}
	if sb.Spec.PIDMode == ModePod && !sb.Reaper.alive() {
		return false
	}
	return true
}

// nameKey is the name a pod reserves: kubelet never reuses one for a
// different pod while the first exists.
func nameKey(md Metadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", md.Name, md.Namespace, md.UID, md.Attempt)
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Run creates and starts a pod sandbox. On failure nothing of it remains.
func (m *Manager) Run(ctx context.Context, spec Spec) (*Sandbox, error) {
	if err := m.validate(&spec); err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	key := nameKey(spec.Metadata)
	m.mu.Lock()
	if other, ok := m.names[key]; ok {
		m.mu.Unlock()
		return nil, fmt.Errorf("pod sandbox name %q is reserved for %s: %w", key, other, errdefs.ErrAlreadyExists)
	}
	m.names[key] = id
	op := &sync.Mutex{}
	m.ops[id] = op
	m.mu.Unlock()
	op.Lock()
	defer op.Unlock()

	sb := &Sandbox{
		ID:        id,
		Spec:      spec,
		State:     StateCreating,
		CreatedAt: time.Now(),
		BootID:    m.bootID,
		Dir:       filepath.Join(m.opts.StateDir, "pods", id),
	}
	if err := m.plan(sb); err != nil {
		m.release(id, key)
		return nil, err
	}
	// The record, with everything the pod is about to get, comes first: if
	// the daemon dies from here on, the restarted daemon finds it and undoes
	// whatever was made. Undoing is idempotent, so the record need not be
	// rewritten after each step.
	if err := m.records.Put(id, sb); err != nil {
		m.release(id, key)
		return nil, err
	}
	if err := m.create(ctx, sb); err != nil {
		cleanupCtx := context.WithoutCancel(ctx)
		if terr := m.teardown(cleanupCtx, sb); terr != nil {
			klog.ErrorS(terr, "Cleaning up failed pod sandbox", "pod", id)
			// Keep the record so a later Remove or restart retries, but free
			// the name: kubelet's retry must not be refused for it.
			if perr := m.records.Put(id, sb); perr != nil {
				klog.ErrorS(perr, "Saving pod sandbox record", "pod", id)
			}
			m.publish(sb)
			m.mu.Lock()
			delete(m.names, key)
			m.mu.Unlock()
			return nil, err
		}
		m.records.Delete(id)
		m.release(id, key)
		return nil, err
	}
	sb.State = StateReady
	if err := m.records.Put(id, sb); err != nil {
		m.teardown(context.WithoutCancel(ctx), sb)
		m.records.Delete(id)
		m.release(id, key)
		return nil, err
	}
	m.publish(sb)
	return clone(sb), nil
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

func (m *Manager) validate(spec *Spec) error {
	if h := spec.RuntimeHandler; h != "" {
		known := false
		for _, k := range m.opts.RuntimeHandlers {
			known = known || k == h
		}
		if !known {
			return errdefs.InvalidField("runtime_handler", fmt.Sprintf("unknown runtime handler %q", h))
		}
	}
	if spec.PIDMode == "" {
		spec.PIDMode = ModeContainer
	}
	if spec.NetworkMode == "" {
		spec.NetworkMode = ModePod
	}
	if spec.IPCMode == "" {
		spec.IPCMode = ModePod
	}
	return validateSysctls(spec)
}

// plan fills in what sb will be made of, so that its first record already
// says what to undo: the pod cgroup, the namespace pins, the network.
func (m *Manager) plan(sb *Sandbox) error {
	path, err := cgroups.PodCgroupsPath(m.opts.CgroupDriver, sb.Spec.CgroupParent, sb.ID)
	if err != nil {
		return err
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, path)
	if err != nil {
		return err
	}
	sb.Cgroup = path
	// kubelet makes pod cgroups itself with the cgroupfs driver; only a
	// cgroup crisp makes is removed with the pod.
	sb.CgroupOwned = !cg.Exists()

	sb.Namespaces = map[NamespaceKind]string{}
	for _, k := range sb.newNamespaces() {
		sb.Namespaces[k] = m.pins.pinPath(k, sb.ID)
	}
	if sb.Spec.PIDMode == ModePod {
		sb.Namespaces[NamespacePID] = m.pins.pinPath(NamespacePID, sb.ID)
		// Named after the pod: systemd scope names are global.
		sb.ReaperCgroup, err = cgroups.ContainerCgroupsPath(m.opts.CgroupDriver, sb.Spec.CgroupParent, sb.ID, "reaper"+sb.ID)
		if err != nil {
			return err
		}
	}
	sb.NetworkAttached = sb.Spec.NetworkMode != ModeNode
	return nil
}

// newNamespaces are the namespaces the pod creates and pins itself (the PID
// namespace, if any, is its reaper's). A pod on the host network keeps the
// host's name too.
func (sb *Sandbox) newNamespaces() []NamespaceKind {
	var kinds []NamespaceKind
	if sb.Spec.NetworkMode != ModeNode {
		kinds = append(kinds, NamespaceNet, NamespaceUTS)
	}
	if sb.Spec.IPCMode != ModeNode {
		kinds = append(kinds, NamespaceIPC)
	}
	return kinds
}

// create makes the pod's kernel objects and files, as planned in sb.
func (m *Manager) create(ctx context.Context, sb *Sandbox) error {
	spec := &sb.Spec
	if err := os.MkdirAll(sb.Dir, 0o755); err != nil {
		return fmt.Errorf("create pod directory: %w", err)
	}
	if err := writeResolvConf(sb.Dir, spec.DNS); err != nil {
		return err
	}
	hostNetwork := spec.NetworkMode == ModeNode
	hostname := spec.Hostname
	if hostNetwork {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("read host name: %w", err)
		}
		hostname = h
	}
	if err := writeHostname(sb.Dir, hostname); err != nil {
		return err
	}

	if sb.CgroupOwned {
		if err := m.createCgroup(ctx, sb); err != nil {
			return err
		}
	}

	if kinds := sb.newNamespaces(); len(kinds) > 0 {
		_, err := m.pins.create(sb.ID, kinds, func() error {
			if !hostNetwork {
				// A pod's localhost works without a CNI loopback plugin.
				if err := setLoopbackUp(); err != nil {
					return err
				}
				if hostname != "" {
					if err := unix.Sethostname([]byte(hostname)); err != nil {
						return fmt.Errorf("set hostname %q: %w", hostname, err)
					}
				}
			}
			return applySysctls(spec.Sysctls)
		})
		if err != nil {
			return err
		}
	}

	if spec.PIDMode == ModePod {
		cg, err := cgroups.NewManager(m.opts.Cgroups, sb.ReaperCgroup)
		if err != nil {
			return err
		}
		reaper, err := startReaper(ctx, sb.ID, cg)
		if err != nil {
			return err
		}
		sb.Reaper = reaper
		// The reaper's pid is known only now; record it before anything else
		// can fail, so that it is stopped on undo.
		if err := m.records.Put(sb.ID, sb); err != nil {
			return err
		}
		if _, err := m.pins.pin(NamespacePID, sb.ID, fmt.Sprintf("/proc/%d/ns/pid", reaper.PID)); err != nil {
			return err
		}
	}

	if !hostNetwork {
		res, err := m.opts.Network.Attach(ctx, networkPod(sb))
		if err != nil {
			return err
		}
		sb.IPs = res.IPs
	}
	return writeHosts(sb.Dir, hostname, hostNetwork, sb.IPs)
}

// createCgroup makes the pod's cgroup under the parent kubelet gave.
func (m *Manager) createCgroup(ctx context.Context, sb *Sandbox) error {
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Create(ctx); err != nil {
		return fmt.Errorf("create pod cgroup %s: %w", sb.Cgroup, err)
	}
	return nil
}

// removeReaperCgroup removes the cgroup of the pod's reaper, which is
// crisp's even below a pod cgroup kubelet made. Idempotent.
func (m *Manager) removeReaperCgroup(ctx context.Context, sb *Sandbox) error {
	if sb.ReaperCgroup == "" {
		return nil
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.ReaperCgroup)
	if err != nil {
		return err
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("remove reaper cgroup %s: %w", sb.ReaperCgroup, err)
	}
	return nil
}

// removeCgroup removes the pod's cgroup if crisp made it. Idempotent.
func (m *Manager) removeCgroup(ctx context.Context, sb *Sandbox) error {
	if !sb.CgroupOwned || sb.Cgroup == "" {
		return nil
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("remove pod cgroup %s: %w", sb.Cgroup, err)
	}
	return nil
}

// networkPod is what CNI needs to know of sb.
func networkPod(sb *Sandbox) *network.Pod {
	p := &network.Pod{
		ID:        sb.ID,
		Name:      sb.Spec.Metadata.Name,
		Namespace: sb.Spec.Metadata.Namespace,
		UID:       sb.Spec.Metadata.UID,
		NetNS:     sb.Namespaces[NamespaceNet],
	}
	if ok, _ := isNamespacePin(p.NetNS); !ok {
		p.NetNS = "" // CNI DEL must still run; plugins accept a missing netns
	}
	p.PortMappings = sb.Spec.PortMappings
	p.DNS = sb.Spec.DNS
	if bw := sb.Spec.Bandwidth; bw != nil {
		// The bandwidth plugin needs a burst with each rate; kubelet's
		// other runtimes use the largest burst the kernel takes.
		p.Bandwidth = &network.Bandwidth{}
		if bw.IngressRate > 0 {
			p.Bandwidth.IngressRate, p.Bandwidth.IngressBurst = bw.IngressRate, math.MaxInt32
		}
		if bw.EgressRate > 0 {
			p.Bandwidth.EgressRate, p.Bandwidth.EgressBurst = bw.EgressRate, math.MaxInt32
		}
	}
	return p
}

// stopParts stops what a not-ready pod must not keep running: its
// containers, its network attachment and its PID namespace. Idempotent.
func (m *Manager) stopParts(ctx context.Context, sb *Sandbox) error {
	var errs []error
	if m.containers != nil {
		if err := m.containers.StopPodContainers(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("stop containers: %w", err))
		}
	}
	if sb.NetworkAttached {
		if err := m.opts.Network.Detach(ctx, networkPod(sb)); err != nil {
			errs = append(errs, err)
		} else {
			sb.NetworkAttached = false
		}
	}
	if err := sb.Reaper.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// teardown removes every kernel object and file of sb. Idempotent.
func (m *Manager) teardown(ctx context.Context, sb *Sandbox) error {
	errs := []error{m.stopParts(ctx, sb)}
	errs = append(errs, m.pins.remove(sb.ID, []NamespaceKind{NamespaceNet, NamespaceIPC, NamespaceUTS, NamespacePID}))
	errs = append(errs, m.removeReaperCgroup(ctx, sb), m.removeCgroup(ctx, sb))
	if err := os.RemoveAll(sb.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove pod directory: %w", err))
	}
	return errors.Join(errs...)
}

// lookup resolves id, or a unique prefix of one, to its pod and operation
// lock.
func (m *Manager) lookup(id string) (*Sandbox, *sync.Mutex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sb, ok := m.pods[id]; ok {
		return sb, m.ops[id], nil
	}
	var found *Sandbox
	if id != "" {
		for full, sb := range m.pods {
			if strings.HasPrefix(full, id) {
				if found != nil {
					return nil, nil, errdefs.InvalidField("pod_sandbox_id", fmt.Sprintf("%q matches more than one pod sandbox", id))
				}
				found = sb
			}
		}
	}
	if found == nil {
		return nil, nil, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return found, m.ops[found.ID], nil
}

// Stop stops the pod's containers, detaches its network and ends its PID
// namespace. The record and the pinned namespaces stay until Remove.
// Stopping a stopped pod succeeds.
func (m *Manager) Stop(ctx context.Context, id string) error {
	sb, op, err := m.lookup(id)
	if err != nil {
		return err
	}
	op.Lock()
	defer op.Unlock()
	cur := m.current(sb.ID)
	stopErr := m.stopParts(ctx, cur)
	if cur.State == StateReady {
		cur.State = StateNotReady
	}
	if err := m.records.Put(cur.ID, cur); err != nil {
		return errors.Join(stopErr, err)
	}
	m.publish(cur)
	return stopErr
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

// Remove stops the pod if needed and removes everything of it: pins, files,
// record. Removing an unknown pod succeeds.
func (m *Manager) Remove(ctx context.Context, id string) error {
	sb, op, err := m.lookup(id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	op.Lock()
	defer op.Unlock()
	cur := m.current(sb.ID)
	if cur.State == StateReady {
		cur.State = StateNotReady
	}
	if err := m.teardown(ctx, cur); err != nil {
		if perr := m.records.Put(cur.ID, cur); perr != nil {
			klog.ErrorS(perr, "Saving pod sandbox record", "pod", cur.ID)
		}
		m.publish(cur)
		return err
	}
	if err := m.records.Delete(cur.ID); err != nil {
		return err
	}
	m.release(cur.ID, nameKey(cur.Spec.Metadata))
	return nil
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

// isNamespacePin reports whether path is a bind-mounted namespace file.
func isNamespacePin(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return st.Type == unix.NSFS_MAGIC, nil
}
