package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// nriPlugin is an NRI plugin run in the test: it records every event it is
// told, in order, and adjusts the containers it is asked to.
type nriPlugin struct {
	mu     sync.Mutex
	events []string
	synced struct{ pods, containers []string }
	ready  chan struct{}
	once   sync.Once

	// adjust, when set, is the adjustment of every container created.
	adjust func(*api.Container) *api.ContainerAdjustment
	// onSync, when set, runs inside Synchronize and returns its updates.
	onSync func(pods []*api.PodSandbox, containers []*api.Container) []*api.ContainerUpdate
	// onUpdate, when set, answers UpdateContainer.
	onUpdate func(*api.Container, *api.LinuxResources) []*api.ContainerUpdate
}

func (p *nriPlugin) record(event, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, event+" "+id)
}

// eventsOf returns the events told of the pod or container id, in order.
func (p *nriPlugin) eventsOf(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if name, eid, _ := strings.Cut(e, " "); eid == id {
			out = append(out, name)
		}
	}
	return out
}

// seen reports whether the plugin learnt of id by synchronisation or an
// event.
func (p *nriPlugin) seen(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Contains(p.synced.pods, id) || slices.Contains(p.synced.containers, id) {
		return true
	}
	for _, e := range p.events {
		if strings.HasSuffix(e, " "+id) {
			return true
		}
	}
	return false
}

func (p *nriPlugin) Synchronize(_ context.Context, pods []*api.PodSandbox, containers []*api.Container) ([]*api.ContainerUpdate, error) {
	p.mu.Lock()
	for _, pod := range pods {
		p.synced.pods = append(p.synced.pods, pod.Id)
	}
	for _, c := range containers {
		p.synced.containers = append(p.synced.containers, c.Id)
	}
	p.mu.Unlock()
	var updates []*api.ContainerUpdate
	if p.onSync != nil {
		updates = p.onSync(pods, containers)
	}
	p.once.Do(func() { close(p.ready) })
	return updates, nil
}

func (p *nriPlugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RunPodSandbox", pod.Id)
	return nil
}

func (p *nriPlugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("StopPodSandbox", pod.Id)
	return nil
}

func (p *nriPlugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RemovePodSandbox", pod.Id)
	return nil
}

func (p *nriPlugin) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer", c.Id)
	if p.adjust != nil {
		return p.adjust(c), nil, nil
	}
	return nil, nil, nil
}

func (p *nriPlugin) PostCreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostCreateContainer", c.Id)
	return nil
}

func (p *nriPlugin) StartContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("StartContainer", c.Id)
	return nil
}

func (p *nriPlugin) PostStartContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostStartContainer", c.Id)
	return nil
}

func (p *nriPlugin) UpdateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container, r *api.LinuxResources) ([]*api.ContainerUpdate, error) {
	p.record("UpdateContainer", c.Id)
	if p.onUpdate != nil {
		return p.onUpdate(c, r), nil
	}
	return nil, nil
}

func (p *nriPlugin) PostUpdateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostUpdateContainer", c.Id)
	return nil
}

func (p *nriPlugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer", c.Id)
	return nil, nil
}

func (p *nriPlugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("RemoveContainer", c.Id)
	return nil
}

// startNRIPlugin connects p to the daemon's NRI socket as plugin idx-name
// and returns its stub once it is synchronised.
func startNRIPlugin(t *testing.T, socket, name, idx string, p *nriPlugin) stub.Stub {
	t.Helper()
	p.ready = make(chan struct{})
	s, err := stub.New(p, stub.WithSocketPath(socket), stub.WithPluginName(name), stub.WithPluginIdx(idx))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	select {
	case <-p.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin was not synchronised within 30s")
	}
	return s
}

// nriDaemon starts a daemon serving NRI; it returns the daemon and its
// NRI socket. setup, if not nil, is given the plugin and plugin
// configuration directories before the daemon starts.
func nriDaemon(t *testing.T, setup func(plugins, conf string)) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	socket := filepath.Join(dir, "nri.sock")
	if setup != nil {
		for _, sub := range []string{"plugins", "conf.d"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		setup(filepath.Join(dir, "plugins"), filepath.Join(dir, "conf.d"))
	}
	d := newDaemon(t, fmt.Sprintf(`
[nri]
enable = true
socket_path = %q
plugin_path = %q
plugin_config_path = %q
request_timeout = "10s"
`, socket, filepath.Join(dir, "plugins"), filepath.Join(dir, "conf.d")))
	d.Start(t, "--cgroup-driver", "cgroupfs")
	// Run before the daemon is killed: nothing of the pods stays mounted.
	t.Cleanup(func() {
		c := d.Client(t)
		list, err := c.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			t.Error(err)
			return
		}
		for _, pod := range list.Items {
			if _, err := c.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.Id}); err != nil {
				t.Error(err)
			}
		}
	})
	return d, socket
}

// hostNetworkPod is a pod on the host's network: no CNI needed.
func hostNetworkPod(d *daemon, name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "nri", Uid: name + "-uid"},
		LogDirectory: filepath.Join(d.Dir, "logs", name),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
}

// TestNRIEventsAndAdjustments runs a pod and containers past an NRI
// plugin that adds an environment variable and a mount and sets a CPU
// limit and a unified cgroup value: it is told every event in order, and
// what it asked for is in the running container.
func TestNRIEventsAndAdjustments(t *testing.T) {
	d, socket := nriDaemon(t, nil)
	ref := loadBusybox(t, d)
	c := d.Client(t)

	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "note"), []byte("from the plugin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &nriPlugin{adjust: func(*api.Container) *api.ContainerAdjustment {
		a := &api.ContainerAdjustment{}
		a.AddEnv("NRI_ADDED", "yes")
		a.AddMount(&api.Mount{Destination: "/nri", Source: share, Type: "bind", Options: []string{"rbind", "ro"}})
		a.SetLinuxCPUQuota(25000)
		a.SetLinuxCPUPeriod(100000)
		a.AddLinuxUnified("pids.max", "77")
		return a
	}}
	plugin := startNRIPlugin(t, socket, "events", "10", p)

	podCfg := hostNetworkPod(d, "nri-events")
	pod, err := c.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	podID := pod.PodSandboxId
	create := func(name string, cmd ...string) string {
		t.Helper()
		r, err := c.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: name},
				Image:    &runtimeapi.ImageSpec{Image: ref},
				Command:  cmd,
				LogPath:  name + ".log",
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartContainer(ctx(t), &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatal(err)
		}
		return r.ContainerId
	}
	ctr := create("adjusted", "sleep", "1000")

	// From inside: the variable and the mount.
	out, err := c.ExecSync(ctx(t), &runtimeapi.ExecSyncRequest{ContainerId: ctr, Cmd: []string{"sh", "-c", "echo $NRI_ADDED; cat /nri/note; grep ' /nri ' /proc/self/mountinfo"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Stdout)), "\n")
	if out.ExitCode != 0 || len(lines) != 3 || lines[0] != "yes" || lines[1] != "from the plugin" || !strings.Contains(lines[2], " ro") {
		t.Errorf("inside the container: exit %d, stdout %q, stderr %q", out.ExitCode, out.Stdout, out.Stderr)
	}
	// The spec the executor ran, and ContainerStatus.
	spec := readBundleSpec(t, d, ctr)
	if r := spec.Linux.Resources; r == nil || r.CPU == nil || r.CPU.Quota == nil || *r.CPU.Quota != 25000 || *r.CPU.Period != 100000 || r.Unified["pids.max"] != "77" {
		t.Errorf("spec resources: %+v", spec.Linux.Resources)
	}
	st, err := c.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Status.GetResources().GetLinux(); r.GetCpuQuota() != 25000 || r.GetCpuPeriod() != 100000 || r.GetUnified()["pids.max"] != "77" {
		t.Errorf("ContainerStatus resources: %+v", r)
	}
	// The cgroup, where the host's cgroup2 hierarchy has the controllers.
	cg := cgroupDir(t, d, ctr)
	if data, err := os.ReadFile(filepath.Join(cg, "cpu.max")); err == nil {
		if got := strings.TrimSpace(string(data)); got != "25000 100000" {
			t.Errorf("cpu.max = %q, want 25000 100000", got)
		}
	} else {
		t.Logf("cpu.max not checked: the cgroup2 hierarchy has no cpu controller here (%v)", err)
	}
	if data, err := os.ReadFile(filepath.Join(cg, "pids.max")); err == nil {
		if got := strings.TrimSpace(string(data)); got != "77" {
			t.Errorf("pids.max = %q, want 77", got)
		}
	} else {
		t.Logf("pids.max not checked: the cgroup2 hierarchy has no pids controller here (%v)", err)
	}

	// An update the plugin changes: its value is what is applied.
	p.onUpdate = func(ctr *api.Container, r *api.LinuxResources) []*api.ContainerUpdate {
		u := &api.ContainerUpdate{ContainerId: ctr.Id}
		u.SetLinuxCPUQuota(30000)
		u.SetLinuxCPUPeriod(100000)
		return []*api.ContainerUpdate{u}
	}
	if _, err := c.UpdateContainerResources(ctx(t), &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: ctr, Linux: &runtimeapi.LinuxContainerResources{CpuQuota: 50000, CpuPeriod: 100000},
	}); err != nil {
		t.Fatal(err)
	}
	st, err = c.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
	if err != nil {
		t.Fatal(err)
	}
	if q := st.Status.GetResources().GetLinux().GetCpuQuota(); q != 30000 {
		t.Errorf("after an update the plugin changed, cpu quota = %d, want 30000", q)
	}

	// An update the plugin asks for on its own.
	u := &api.ContainerUpdate{ContainerId: ctr}
	u.SetLinuxCPUQuota(40000)
	u.SetLinuxCPUPeriod(100000)
	if failed, err := plugin.UpdateContainers([]*api.ContainerUpdate{u}); err != nil || len(failed) != 0 {
		t.Fatalf("unsolicited update: failed %v, %v", failed, err)
	}
	st, err = c.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ctr})
	if err != nil {
		t.Fatal(err)
	}
	if q := st.Status.GetResources().GetLinux().GetCpuQuota(); q != 40000 {
		t.Errorf("after the plugin's own update, cpu quota = %d, want 40000", q)
	}
	if data, err := os.ReadFile(filepath.Join(cg, "cpu.max")); err == nil && strings.TrimSpace(string(data)) != "40000 100000" {
		t.Errorf("after the plugin's own update, cpu.max = %q", data)
	}
	// One for a container that does not exist is returned as failed.
	if failed, err := plugin.UpdateContainers([]*api.ContainerUpdate{{ContainerId: "no-such-container", Linux: u.Linux}}); err != nil || len(failed) != 1 {
		t.Errorf("update of an unknown container: failed %v, %v; want it returned as failed", failed, err)
	}

	// One that exits on its own: StopContainer without a StopContainer call.
	short := create("short", "true")
	waitExited(t, c, short)
	waitEvents(t, p, short, []string{"CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer", "StopContainer"})

	if _, err := c.StopContainer(ctx(t), &runtimeapi.StopContainerRequest{ContainerId: ctr, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveContainer(ctx(t), &runtimeapi.RemoveContainerRequest{ContainerId: ctr}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopPodSandbox(ctx(t), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemovePodSandbox(ctx(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, p, ctr, []string{"CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer",
		"UpdateContainer", "PostUpdateContainer", "StopContainer", "RemoveContainer"})
	waitEvents(t, p, short, []string{"CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer", "StopContainer", "RemoveContainer"})
	waitEvents(t, p, podID, []string{"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"})
}

// TestNRIAdjustmentRefused: an adjustment crisp cannot apply fails
// CreateContainer naming it, and leaves no container behind.
func TestNRIAdjustmentRefused(t *testing.T) {
	d, socket := nriDaemon(t, nil)
	ref := loadBusybox(t, d)
	c := d.Client(t)
	p := &nriPlugin{adjust: func(*api.Container) *api.ContainerAdjustment {
		a := &api.ContainerAdjustment{}
		a.SetLinuxRDTClass("gold")
		return a
	}}
	startNRIPlugin(t, socket, "refused", "10", p)
	podCfg := hostNetworkPod(d, "nri-refused")
	pod, err := c.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "refused"}, Image: &runtimeapi.ImageSpec{Image: ref}, Command: []string{"true"}},
	})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.rdt_class") {
		t.Fatalf("CreateContainer with an RDT class adjustment: %v, want it refused naming linux.resources.rdt_class", err)
	}
	list, err := c.ListContainers(ctx(t), &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Containers) != 0 {
		t.Errorf("a refused container is listed: %v", list.Containers)
	}
	if entries, _ := os.ReadDir(filepath.Join(d.State, "containers")); len(entries) != 0 {
		t.Errorf("a refused container left its bundle: %v", entries)
	}
}

// TestNRISynchronizeLatePlugin: a plugin that connects after 10 pods with a
// container each exist is given all of them, the updates it asks for are
// applied, and pods made while it synchronises are not lost.
func TestNRISynchronizeLatePlugin(t *testing.T) {
	d, socket := nriDaemon(t, nil)
	ref := loadBusybox(t, d)
	c := d.Client(t)

	const pods = 10
	var podIDs, ctrIDs []string
	runPod := func(name string) (string, string) {
		cfg := hostNetworkPod(d, name)
		pod, err := c.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			t.Error(err)
			return "", ""
		}
		r, err := c.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{
			PodSandboxId: pod.PodSandboxId, SandboxConfig: cfg,
			Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "sleeper"}, Image: &runtimeapi.ImageSpec{Image: ref}, Command: []string{"sleep", "1000"}},
		})
		if err != nil {
			t.Error(err)
			return pod.PodSandboxId, ""
		}
		return pod.PodSandboxId, r.ContainerId
	}
	for i := range pods {
		podID, ctrID := runPod(fmt.Sprintf("before-%d", i))
		podIDs, ctrIDs = append(podIDs, podID), append(ctrIDs, ctrID)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The plugin's Synchronize waits until pods are being made, and asks
	// for a CPU quota on every container it is given.
	release := make(chan struct{})
	inSync := make(chan struct{})
	p := &nriPlugin{onSync: func(_ []*api.PodSandbox, containers []*api.Container) []*api.ContainerUpdate {
		close(inSync)
		<-release
		var updates []*api.ContainerUpdate
		for _, ctr := range containers {
			u := &api.ContainerUpdate{ContainerId: ctr.Id}
			u.SetLinuxCPUQuota(12345)
			u.SetLinuxCPUPeriod(100000)
			updates = append(updates, u)
		}
		return updates
	}}
	started := make(chan struct{})
	go func() {
		defer close(started)
		p.ready = make(chan struct{})
		s, err := stub.New(p, stub.WithSocketPath(socket), stub.WithPluginName("late"), stub.WithPluginIdx("10"))
		if err != nil {
			t.Error(err)
			return
		}
		if err := s.Start(context.Background()); err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(s.Stop)
	}()
	select {
	case <-inSync:
	case <-time.After(30 * time.Second):
		t.Fatal("Synchronize was not called within 30s")
	}
	// Made while the plugin synchronises.
	var during sync.WaitGroup
	var mu sync.Mutex
	var duringIDs []string
	for i := range 3 {
		during.Go(func() {
			podID, ctrID := runPod(fmt.Sprintf("during-%d", i))
			mu.Lock()
			duringIDs = append(duringIDs, podID, ctrID)
			mu.Unlock()
		})
	}
	// The pods being made wait for the synchronisation (BlockSync), so
	// nothing signals that their requests are in: the pause only gives
	// them time to arrive. Were they not held, they would be made within
	// it and lost to the plugin, which is what this test catches (without
	// BlockSync it fails here).
	time.Sleep(500 * time.Millisecond)
	close(release)
	<-started
	select {
	case <-p.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin was not synchronised")
	}
	during.Wait()

	p.mu.Lock()
	syncedPods, syncedCtrs := slices.Clone(p.synced.pods), slices.Clone(p.synced.containers)
	p.mu.Unlock()
	for i := range pods {
		if !slices.Contains(syncedPods, podIDs[i]) || !slices.Contains(syncedCtrs, ctrIDs[i]) {
			t.Errorf("pod %s or its container %s is not in the synchronisation", podIDs[i], ctrIDs[i])
		}
		st, err := c.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: ctrIDs[i]})
		if err != nil {
			t.Fatal(err)
		}
		if q := st.Status.GetResources().GetLinux().GetCpuQuota(); q != 12345 {
			t.Errorf("container %s: cpu quota %d after the synchronisation's update, want 12345", ctrIDs[i], q)
		}
	}
	for _, id := range duringIDs {
		if id == "" {
			t.Error("a pod or container made during the synchronisation failed")
			continue
		}
		if !p.seen(id) {
			t.Errorf("%s, made during the synchronisation, was lost to the plugin", id)
		}
	}
}

// TestNRIPreinstalledPlugin: a plugin in plugin_path is started by the
// daemon with its configuration from plugin_config_path, and its
// adjustment reaches the container.
func TestNRIPreinstalledPlugin(t *testing.T) {
	d, _ := nriDaemon(t, func(plugins, conf string) {
		build := exec.Command("go", "build", "-o", filepath.Join(plugins, "05-envset"), "github.com/crisp-runtime/crisp/test/nriplugin")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build the plugin: %v\n%s", err, out)
		}
		if err := os.WriteFile(filepath.Join(conf, "05-envset.conf"), []byte("PREINSTALLED=started-by-crisp\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	ref := loadBusybox(t, d)
	c := d.Client(t)
	podCfg := hostNetworkPod(d, "nri-preinstalled")
	pod, err := c.RunPodSandbox(ctx(t), &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateContainer(ctx(t), &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "env"}, Image: &runtimeapi.ImageSpec{Image: ref}, Command: []string{"sleep", "1000"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartContainer(ctx(t), &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ExecSync(ctx(t), &runtimeapi.ExecSyncRequest{ContainerId: r.ContainerId, Cmd: []string{"sh", "-c", "echo $PREINSTALLED"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out.Stdout)); got != "started-by-crisp" {
		t.Errorf("PREINSTALLED in the container = %q, want the pre-installed plugin's value", got)
	}
}

// readBundleSpec reads the OCI spec the daemon wrote for container id.
func readBundleSpec(t *testing.T, d *daemon, id string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(d.State, "containers", id, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// cgroupDir is the cgroup v2 directory of container id.
func cgroupDir(t *testing.T, d *daemon, id string) string {
	t.Helper()
	s := readBundleSpec(t, d, id)
	return filepath.Join(cgroups.FindMount(), s.Linux.CgroupsPath)
}

// waitExited waits until container id has exited.
func waitExited(t *testing.T, c runtimeapi.RuntimeServiceClient, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.ContainerStatus(ctx(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s after 10s", id, st.Status.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitEvents waits until the plugin was told exactly want of id, in order.
func waitEvents(t *testing.T, p *nriPlugin, id string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := p.eventsOf(id)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NRI events of %s:\n got %v\nwant %v", id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
