package sandbox

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/ids"
	"github.com/crisp-runtime/crisp/pkg/network"
)

// Run creates and starts a pod sandbox. On failure nothing of it remains:
// whatever step failed, what was made is undone (see undo).
func (m *Manager) Run(ctx context.Context, spec Spec) (*Sandbox, error) {
	if err := m.validate(&spec); err != nil {
		return nil, err
	}
	id, err := ids.New()
	if err != nil {
		return nil, err
	}
	unlock, err := m.index.Reserve(id, nameKey(spec.Metadata))
	if err != nil {
		return nil, err
	}
	defer unlock()

	sb := &Sandbox{
		ID:        id,
		Spec:      spec,
		State:     StateCreating,
		CreatedAt: time.Now(),
		BootID:    m.bootID,
		Dir:       filepath.Join(m.opts.StateDir, "pods", id),
	}
	if err := m.plan(sb); err != nil {
		m.index.Forget(id)
		return nil, err
	}
	if m.testHookPlanned != nil {
		m.testHookPlanned(clone(sb))
	}
	// The record, with everything the pod is about to get, comes first: if
	// the daemon dies from here on, the restarted daemon finds it and undoes
	// whatever was made. Undoing is idempotent, so the record need not be
	// rewritten after each step.
	if err := m.records.Put(id, sb); err != nil {
		m.index.Forget(id)
		return nil, err
	}
	// From before plugins are told until the pod is published, a plugin
	// that connects waits: it finds the pod in its synchronisation.
	unblock := m.nriBlockSync()
	defer unblock()
	err = m.create(ctx, sb)
	told := false
	if err == nil && m.opts.NRI != nil {
		// The pod is not published yet: while plugins look at it, List
		// and Status do not show it, and no container can be made in it.
		if err = m.step("nri"); err == nil {
			if err = m.opts.NRI.RunPodSandbox(ctx, sb); err != nil {
				err = fmt.Errorf("NRI RunPodSandbox: %w", err)
			}
			told = err == nil
		}
	}
	if err == nil {
		sb.State = StateReady
		// Until this succeeds the stored record still says creating.
		err = m.records.Put(id, sb)
	}
	if err != nil {
		sb.State = StateCreating
		if told {
			m.nriRemoved(context.WithoutCancel(ctx), sb)
		}
		m.undo(context.WithoutCancel(ctx), sb)
		return nil, err
	}
	m.index.Publish(id, sb)
	return clone(sb), nil
}

// undo removes what a failed Run made of sb, and its record. If that fails
// too, the pod stays, still creating and without its name, for
// RemovePodSandbox or the next start to finish: kubelet's retry must not be
// refused for the name. The caller holds the pod's operation lock.
func (m *Manager) undo(ctx context.Context, sb *Sandbox) {
	if err := m.teardown(ctx, sb); err != nil {
		klog.ErrorS(err, "Cleaning up failed pod sandbox", "pod", sb.ID)
		if perr := m.records.Put(sb.ID, sb); perr != nil {
			// The stored record says creating and names every part: the
			// next start undoes the pod.
			klog.ErrorS(perr, "Saving pod sandbox record", "pod", sb.ID)
		}
		m.index.Publish(sb.ID, sb)
		m.index.FreeName(sb.ID)
		return
	}
	if err := m.records.Delete(sb.ID); err != nil {
		// Nothing of the pod is left; the next start finds its record
		// creating and undoes nothing.
		klog.ErrorS(err, "Deleting pod sandbox record", "pod", sb.ID)
	}
	m.index.Forget(sb.ID)
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
	if err := ValidateUserNamespace(spec); err != nil {
		return err
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
	if sb.Spec.UserNS != nil {
		sb.Namespaces[NamespaceUser] = m.pins.pinPath(NamespaceUser, sb.ID)
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
	if sb.Spec.IPCMode != ModeNode {
		sb.Shm = filepath.Join(sb.Dir, ShmFile)
	}
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

// create makes the pod's kernel objects and files, as planned in sb. Each
// step makes only what sb's record already names, so that whatever step
// fails or a crash interrupts, undoing the record removes all of it.
func (m *Manager) create(ctx context.Context, sb *Sandbox) error {
	spec := &sb.Spec
	if err := m.step("files"); err != nil {
		return err
	}
	if err := os.MkdirAll(sb.Dir, 0o700); err != nil {
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
	if sb.Shm != "" {
		if err := m.step("shm"); err != nil {
			return err
		}
		if err := mountShm(sb.Shm, spec.UserNS); err != nil {
			return err
		}
	}

	if sb.CgroupOwned {
		if err := m.step("cgroup"); err != nil {
			return err
		}
		if err := m.createCgroup(ctx, sb); err != nil {
			return err
		}
	}

	if kinds := sb.newNamespaces(); len(kinds) > 0 {
		if err := m.step("namespaces"); err != nil {
			return err
		}
		setup := func() error {
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
			var ipcOwner *uint32
			if spec.UserNS != nil {
				uid, _ := HostRoot(spec.UserNS.UIDs)
				ipcOwner = &uid
			}
			return applySysctls(spec.Sysctls, ipcOwner)
		}
		var err error
		switch {
		case spec.UserNS != nil && spec.PIDMode == ModePod:
			err = m.createWithReaper(ctx, sb, kinds, setup)
		case spec.UserNS != nil:
			_, err = m.pins.createInUserNS(sb.ID, kinds, spec.UserNS, m.step, setup)
		default:
			_, err = m.pins.create(sb.ID, kinds, setup)
		}
		if err != nil {
			return err
		}
	}

	if spec.PIDMode == ModePod && spec.UserNS == nil {
		if err := m.step("reaper"); err != nil {
			return err
		}
		cg, err := cgroups.NewManager(m.opts.Cgroups, sb.ReaperCgroup)
		if err != nil {
			return err
		}
		reaper, err := startReaper(ctx, sb.ID, cg, nil, nil)
		if err != nil {
			return err
		}
		sb.Reaper = reaper
		// The reaper's pid is known only now; record it before anything else
		// can fail, so that it is stopped on undo. Until then only its
		// cgroup, which the record names, finds it.
		if err := m.step("reaper record"); err != nil {
			return err
		}
		if err := m.records.Put(sb.ID, sb); err != nil {
			return err
		}
		if err := m.step("pid namespace"); err != nil {
			return err
		}
		if _, err := m.pins.pin(NamespacePID, sb.ID, fmt.Sprintf("/proc/%d/ns/pid", reaper.PID)); err != nil {
			return err
		}
	}

	if !hostNetwork {
		if err := m.step("network"); err != nil {
			return err
		}
		res, err := m.opts.Network.Attach(ctx, networkPod(sb))
		if err != nil {
			return err
		}
		sb.IPs = res.IPs
	}
	if err := m.step("hosts"); err != nil {
		return err
	}
	return writeHosts(sb.Dir, hostname, hostNetwork, sb.IPs)
}

// createWithReaper makes the namespaces of a pod with its own user
// namespace and a shared PID namespace: the reaper is cloned with all of
// them (see startReaper) and they are pinned from it, then set up as
// createInUserNS does. The reaper is recorded before anything else can
// fail; until then its cgroup, which the record names, finds it.
func (m *Manager) createWithReaper(ctx context.Context, sb *Sandbox, kinds []NamespaceKind, setup func() error) error {
	if err := m.step("reaper"); err != nil {
		return err
	}
	cg, err := cgroups.NewManager(m.opts.Cgroups, sb.ReaperCgroup)
	if err != nil {
		return err
	}
	reaper, err := startReaper(ctx, sb.ID, cg, sb.Spec.UserNS, kinds)
	if err != nil {
		return err
	}
	sb.Reaper = reaper
	if err := m.step("reaper record"); err != nil {
		return err
	}
	if err := m.records.Put(sb.ID, sb); err != nil {
		return err
	}
	if err := m.step("pid namespace"); err != nil {
		return err
	}
	all := append([]NamespaceKind{NamespaceUser, NamespacePID}, kinds...)
	paths, err := m.pins.pinFrom(reaper.PID, sb.ID, all)
	if err == nil {
		err = m.step("namespace setup")
	}
	if err == nil {
		err = m.pins.enter(paths, kinds, setup)
	}
	if err != nil {
		m.pins.remove(sb.ID, all)
	}
	return err
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
