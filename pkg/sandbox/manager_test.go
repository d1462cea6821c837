package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/store"
)

// cniBinDir holds the standard CNI plugins (make install puts them there).
const cniBinDir = "/opt/cni/bin"

type env struct {
	dir, state, ipamDir, confDir string
	store                        *store.Store
	net                          *network.Manager
	cgroups                      *cgroups.Hierarchy
	m                            *Manager
	// network, when set, is the Network the managers use instead of net.
	network Network
	// nri, when set, is told of the pods' lifecycle.
	nri NRI

	// podCgroups are the cgroups of every pod this env's managers planned,
	// made or not: other test packages run pods on the same hierarchy at
	// the same time, so only these are this test's to check.
	mu         sync.Mutex
	podCgroups []string
	podIDs     []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			t.Skipf("needs the CNI %s plugin in %s (make install installs the standard plugins)", p, cniBinDir)
		}
	}
	dir := t.TempDir()
	e := &env{dir: dir, state: filepath.Join(dir, "state"), ipamDir: filepath.Join(dir, "ipam"), confDir: filepath.Join(dir, "net.d")}
	os.MkdirAll(e.confDir, 0o755)
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "crisp-test",
  "plugins": [
    {"type": "bridge", "bridge": "crisptest0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.99.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`, e.ipamDir)
	if err := os.WriteFile(filepath.Join(e.confDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	e.net = network.NewManager(e.confDir, []string{cniBinDir}, filepath.Join(dir, "cni-cache"))
	e.cgroups = testHierarchy(t)
	e.open(t)
	t.Cleanup(func() {
		for _, sb := range e.m.List() {
			e.m.Remove(context.Background(), sb.ID)
		}
		e.store.Close()
		unix.Unmount(filepath.Join(e.state, "ns"), unix.MNT_DETACH)
	})
	return e
}

// open (re)starts the manager on the same state, as a daemon restart does.
func (e *env) open(t *testing.T) {
	t.Helper()
	if e.store != nil {
		e.store.Close()
	}
	s, err := store.Open(filepath.Join(e.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	e.store = s
	var nw Network = e.net
	if e.network != nil {
		nw = e.network
	}
	m, err := NewManager(context.Background(), Options{
		StateDir: e.state, Store: s, Network: nw, Cgroups: e.cgroups, CgroupDriver: cgroups.DriverCgroupfs, NRI: e.nri,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.testHookPlanned = func(sb *Sandbox) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.podCgroups = append(e.podCgroups, sb.Cgroup)
		e.podIDs = append(e.podIDs, sb.ID)
	}
	e.m = m
}

// testHierarchy opens the host's cgroup v2 hierarchy: /sys/fs/cgroup on a
// pure v2 host, else the cgroup2 mount of a hybrid one.
func testHierarchy(t *testing.T) *cgroups.Hierarchy {
	t.Helper()
	for _, mount := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if h, err := cgroups.OpenHierarchy(mount, cgroups.MissingWarn); err == nil {
			return h
		}
	}
	t.Skip("needs a cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return nil
}

func podSpec(name string) Spec {
	return Spec{
		Metadata: Metadata{Name: name, Namespace: "default", UID: "uid-" + name},
		Hostname: name,
		DNS:      &network.DNS{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}},
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestPodGetsNetworkNamespacesAndFiles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := podSpec("web")
	spec.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shmmni": "1000"}
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != StateReady || len(sb.IPs) != 1 || !strings.HasPrefix(sb.IPs[0].String(), "10.99.") {
		t.Fatalf("pod = state %s, IPs %v; want ready with a 10.99.x address", sb.State, sb.IPs)
	}

	if fi, err := os.Stat(filepath.Join(e.cgroups.Mount(), sb.Cgroup)); err != nil || !fi.IsDir() || sb.Cgroup != "/crisp/pod-"+sb.ID {
		t.Errorf("pod cgroup %q: %v", sb.Cgroup, err)
	}

	// A process that joins the pins by path is in exactly those namespaces.
	netns, ipcns, utsns := sb.Namespaces[NamespaceNet], sb.Namespaces[NamespaceIPC], sb.Namespaces[NamespaceUTS]
	got := run(t, "nsenter", "--net="+netns, "--ipc="+ipcns, "--uts="+utsns, "sh", "-c",
		"readlink /proc/self/ns/net /proc/self/ns/ipc; hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni; ip -o -4 addr show eth0")
	lines := strings.Split(got, "\n")
	if len(lines) < 6 {
		t.Fatalf("unexpected output:\n%s", got)
	}
	if want := fmt.Sprintf("net:[%d]", inode(t, netns)); lines[0] != want {
		t.Errorf("joined netns %s, pin is %s", lines[0], want)
	}
	if want := fmt.Sprintf("ipc:[%d]", inode(t, ipcns)); lines[1] != want {
		t.Errorf("joined ipcns %s, pin is %s", lines[1], want)
	}
	if lines[2] != "web" {
		t.Errorf("hostname %q, want web", lines[2])
	}
	if lines[3] != "80" || lines[4] != "1000" {
		t.Errorf("sysctls in the pod = %q %q, want 80 1000", lines[3], lines[4])
	}
	if !strings.Contains(lines[5], sb.IPs[0].String()+"/") {
		t.Errorf("eth0 in the pod: %q, want %s", lines[5], sb.IPs[0])
	}
	// The daemon's own namespaces are untouched.
	if host := run(t, "cat", "/proc/sys/kernel/shmmni"); host == "1000" {
		t.Error("pod sysctl leaked into the daemon's IPC namespace")
	}
	if self, _ := os.Readlink("/proc/self/ns/net"); self == lines[0] {
		t.Error("daemon is left in the pod's network namespace")
	}

	// localhost works inside the pod.
	run(t, "nsenter", "--net="+netns, "ping", "-c", "1", "-W", "2", "127.0.0.1")

	// The pod answers from the host side of the bridge.
	run(t, "ping", "-c", "1", "-W", "2", sb.IPs[0].String())

	st, err := e.m.Stats(sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Interfaces) != 1 || st.Interfaces[0].Name != "eth0" || st.Interfaces[0].RxBytes == 0 || st.Interfaces[0].TxBytes == 0 {
		t.Errorf("pod interface stats after a ping = %+v, want eth0 with traffic", st.Interfaces)
	}
	if st.Cgroup == nil || st.Previous != nil {
		t.Errorf("first stats sample: cgroup %v, previous %v", st.Cgroup, st.Previous)
	}
	if st2, err := e.m.Stats(sb.ID); err != nil || st2.Previous != st.Cgroup {
		t.Errorf("second sample does not carry the first as previous: %v", err)
	}

	// The pod's /dev/shm is one tmpfs its containers share.
	var fs unix.Statfs_t
	if sb.Shm != filepath.Join(sb.Dir, ShmFile) {
		t.Errorf("pod shm = %q, want %s", sb.Shm, filepath.Join(sb.Dir, ShmFile))
	} else if err := unix.Statfs(sb.Shm, &fs); err != nil || fs.Type != unix.TMPFS_MAGIC || fs.Blocks*uint64(fs.Bsize) != shmSize {
		t.Errorf("pod shm %s: statfs %v, type %#x, size %d; want a %d-byte tmpfs", sb.Shm, err, fs.Type, fs.Blocks*uint64(fs.Bsize), shmSize)
	}

	resolv, _ := os.ReadFile(filepath.Join(sb.Dir, ResolvConfFile))
	wantResolv := "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
	if string(resolv) != wantResolv {
		t.Errorf("resolv.conf =\n%s\nwant\n%s", resolv, wantResolv)
	}
	hosts, _ := os.ReadFile(filepath.Join(sb.Dir, HostsFile))
	if !strings.Contains(string(hosts), sb.IPs[0].String()+"\tweb\n") || !strings.Contains(string(hosts), "127.0.0.1\tlocalhost") {
		t.Errorf("hosts file:\n%s", hosts)
	}
}

func TestTwoPodsReachEachOther(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, err := e.m.Run(ctx, podSpec("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.m.Run(ctx, podSpec("b"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, "nsenter", "--net="+a.Namespaces[NamespaceNet], "ping", "-c", "1", "-W", "2", b.IPs[0].String())
	run(t, "nsenter", "--net="+b.Namespaces[NamespaceNet], "ping", "-c", "1", "-W", "2", a.IPs[0].String())
}

func TestHostNetworkPod(t *testing.T) {
	e := newEnv(t)
	spec := podSpec("hostnet")
	spec.NetworkMode = ModeNode
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sb.Namespaces[NamespaceNet]; ok || len(sb.IPs) != 0 {
		t.Errorf("host-network pod has netns %v, IPs %v", sb.Namespaces, sb.IPs)
	}
	if _, ok := sb.Namespaces[NamespaceUTS]; ok {
		t.Error("host-network pod has its own UTS namespace")
	}
	if _, ok := sb.Namespaces[NamespaceIPC]; !ok {
		t.Error("host-network pod lacks its own IPC namespace")
	}
	if sb.NetworkAttached {
		t.Error("host-network pod was attached to the pod network")
	}
	if sb.Shm == "" {
		t.Error("host-network pod with its own IPC namespace has no /dev/shm of its own")
	}
}

func TestHostIPCPodUsesHostShm(t *testing.T) {
	e := newEnv(t)
	spec := podSpec("hostipc")
	spec.IPCMode = ModeNode
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sb.Namespaces[NamespaceIPC]; ok || sb.Shm != "" {
		t.Errorf("host-IPC pod has IPC namespace %v, shm %q; want neither", sb.Namespaces[NamespaceIPC], sb.Shm)
	}
	if _, err := os.Stat(filepath.Join(sb.Dir, ShmFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host-IPC pod has a shm directory: %v", err)
	}
}

func TestSharedPIDPodHasReaper(t *testing.T) {
	e := newEnv(t)
	spec := podSpec("shared")
	spec.PIDMode = ModePod
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Reaper.alive() {
		t.Fatal("reaper is not running")
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", sb.Reaper.PID))
	if !strings.Contains(string(status), fmt.Sprintf("NSpid:\t%d\t1\n", sb.Reaper.PID)) {
		t.Errorf("reaper is not PID 1 of its own namespace:\n%s", status)
	}
	procs, _ := os.ReadFile(filepath.Join(e.cgroups.Mount(), sb.ReaperCgroup, "cgroup.procs"))
	if strings.TrimSpace(string(procs)) != fmt.Sprint(sb.Reaper.PID) || !strings.HasPrefix(sb.ReaperCgroup, sb.Cgroup+"/") {
		t.Errorf("reaper cgroup %s (pod %s) holds %q, want the reaper %d", sb.ReaperCgroup, sb.Cgroup, procs, sb.Reaper.PID)
	}
	pidns := sb.Namespaces[NamespacePID]
	if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", sb.Reaper.PID)); link != fmt.Sprintf("pid:[%d]", inode(t, pidns)) {
		t.Errorf("pinned pid namespace %d is not the reaper's %s", inode(t, pidns), link)
	}
	// A process joining the pod's PID namespace sees the reaper as PID 1.
	out := run(t, "nsenter", "--pid="+pidns, "--", "sh", "-c", "grep NSpid /proc/self/status")
	if fields := strings.Fields(out); len(fields) != 3 || fields[2] == "1" {
		t.Errorf("joined process NSpid = %q, want a second-level pid other than 1", out)
	}
	// The reaper is the C one: a single thread, no Go runtime.
	if !strings.Contains(string(status), "Name:\tcrisp-reaper\n") || !strings.Contains(string(status), "Threads:\t1\n") {
		t.Errorf("reaper is not the single-threaded crisp-reaper:\n%s", status)
	}
	// An orphan of the pod ends up the reaper's child; once it exits, the
	// reaper collects it.
	run(t, "nsenter", "--pid="+pidns, "--", "sh", "-c", "(sleep 0.1 &)")
	time.Sleep(300 * time.Millisecond) // the orphan has exited
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		zombies := childZombies(t, sb.Reaper.PID)
		if len(zombies) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reaper left zombies %v", zombies)
		}
	}
	if err := e.m.Stop(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if sb.Reaper.alive() {
		t.Error("reaper survived StopPodSandbox")
	}
}

func TestStopAndRemoveAreIdempotentAndLeaveNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := podSpec("gone")
	spec.PIDMode = ModePod
	sb, err := e.m.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.m.Stop(ctx, sb.ID); err != nil {
			t.Fatalf("stop %d: %v", i+1, err)
		}
	}
	got, err := e.m.Get(sb.ID)
	if err != nil || got.State != StateNotReady {
		t.Fatalf("after stop: %v, %v; want record kept, not ready", got, err)
	}
	if leases := leaseFiles(t, e); len(leases) != 0 {
		t.Errorf("IPAM leases after stop: %v", leases)
	}
	for i := 0; i < 2; i++ {
		if err := e.m.Remove(ctx, sb.ID); err != nil {
			t.Fatalf("remove %d: %v", i+1, err)
		}
	}
	if _, err := e.m.Get(sb.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after remove: %v, want not found", err)
	}
	assertNothingLeft(t, e)
}

func TestBadInputLeavesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		spec  func() Spec
		field string
	}{
		{"host-wide sysctl", func() Spec {
			s := podSpec("s1")
			s.Sysctls = map[string]string{"kernel.panic": "1"}
			return s
		}, "linux.sysctls[kernel.panic]"},
		{"net sysctl on host network", func() Spec {
			s := podSpec("s2")
			s.NetworkMode = ModeNode
			s.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
			return s
		}, "linux.sysctls[net.ipv4.ip_forward]"},
		{"unknown runtime handler", func() Spec {
			s := podSpec("s3")
			s.RuntimeHandler = "kata"
			return s
		}, "runtime_handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.Run(ctx, tt.spec())
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Run: %v, want invalid argument naming %s", err, tt.field)
			}
		})
	}
	// A sysctl the kernel rejects fails inside the namespaces, after pins
	// were being made: still nothing may remain.
	s := podSpec("badvalue")
	s.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "not-a-number"}
	if _, err := e.m.Run(ctx, s); err == nil {
		t.Fatal("invalid sysctl value accepted")
	}
	assertNothingLeft(t, e)
}

func TestDuplicateNameIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := e.m.Run(ctx, podSpec("dup"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.m.Run(ctx, podSpec("dup"))
	if !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), first.ID) {
		t.Fatalf("duplicate Run: %v, want already exists naming %s", err, first.ID)
	}
	next := podSpec("dup")
	next.Metadata.Attempt = 1
	if _, err := e.m.Run(ctx, next); err != nil {
		t.Fatalf("next attempt: %v", err)
	}
}

func TestCNIFailureLeavesNothing(t *testing.T) {
	e := newEnv(t)
	conf := `{"cniVersion":"1.0.0","name":"broken","plugins":[{"type":"loopback"},{"type":"crisp-no-such-plugin"}]}`
	if err := os.WriteFile(filepath.Join(e.confDir, "00-broken.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.m.Run(context.Background(), podSpec("nonet"))
	if err == nil || !strings.Contains(err.Error(), "crisp-no-such-plugin") {
		t.Fatalf("Run with a broken network: %v, want an error naming the plugin", err)
	}
	assertNothingLeft(t, e)
	// The name is free again.
	os.Remove(filepath.Join(e.confDir, "00-broken.conflist"))
	if _, err := e.m.Run(context.Background(), podSpec("nonet")); err != nil {
		t.Fatal(err)
	}
}

func TestRestartFindsPodsAndUndoesHalfMadeOnes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kept, err := e.m.Run(ctx, podSpec("kept"))
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash in the middle of Run: a pod with its namespaces
	// pinned and its network attached, but still recorded as creating.
	half, err := e.m.Run(ctx, podSpec("half"))
	if err != nil {
		t.Fatal(err)
	}
	half.State = StateCreating
	if err := e.m.records.Put(half.ID, half); err != nil {
		t.Fatal(err)
	}

	e.open(t)
	got, err := e.m.Get(kept.ID)
	if err != nil || got.State != StateReady || got.IPs[0] != kept.IPs[0] {
		t.Fatalf("after restart: %+v, %v; want the ready pod with its IP", got, err)
	}
	if _, err := e.m.Get(half.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("half-made pod after restart: %v, want removed", err)
	}
	if _, err := os.Stat(half.Namespaces[NamespaceNet]); !os.IsNotExist(err) {
		t.Errorf("half-made pod's netns pin remains: %v", err)
	}
	if leases := leaseFiles(t, e); len(leases) != 1 {
		t.Errorf("leases after recovery = %v, want only the kept pod's", leases)
	}
	// Its name is free for kubelet's retry.
	if _, err := e.m.Run(ctx, podSpec("half")); err != nil {
		t.Fatal(err)
	}
}

func TestFiftyPodsInParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test: not in -short mode")
	}
	e := newEnv(t)
	ctx := context.Background()
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sb, err := e.m.Run(ctx, podSpec(fmt.Sprintf("stress-%d", i)))
			if err != nil {
				errs <- err
				return
			}
			ids[i] = sb.ID
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for _, sb := range e.m.List() {
		if seen[sb.IPs[0].String()] {
			t.Errorf("address %s given twice", sb.IPs[0])
		}
		seen[sb.IPs[0].String()] = true
	}
	for _, id := range ids {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := e.m.Remove(ctx, id); err != nil {
				t.Error(err)
			}
		}(id)
	}
	wg.Wait()
	assertNothingLeft(t, e)
}

func leaseFiles(t *testing.T, e *env) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(e.ipamDir, "crisp-test"))
	var leases []string
	for _, ent := range entries {
		if n := ent.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			leases = append(leases, n)
		}
	}
	return leases
}

// assertNothingLeft checks the kernel and the filesystem for anything a pod
// could leave behind: pins, veths, leases, files, records.
func assertNothingLeft(t *testing.T, e *env) {
	t.Helper()
	if pods := e.m.List(); len(pods) != 0 {
		t.Errorf("%d pods left", len(pods))
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, filepath.Join(e.state, "ns")+"/") {
			t.Errorf("pin still mounted: %s", line)
		}
		if strings.Contains(line, filepath.Join(e.state, "pods")+"/") {
			t.Errorf("pod shm still mounted: %s", line)
		}
	}
	if links := run(t, "ip", "-o", "link", "show", "type", "veth"); links != "" {
		t.Errorf("veths left: %s", links)
	}
	if leases := leaseFiles(t, e); len(leases) != 0 {
		t.Errorf("IPAM leases left: %v", leases)
	}
	for _, kind := range allNamespaces {
		entries, _ := os.ReadDir(filepath.Join(e.state, "ns", string(kind)))
		if len(entries) != 0 {
			t.Errorf("%s pin files left: %d", kind, len(entries))
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(e.state, "pods")); len(entries) != 0 {
		t.Errorf("pod directories left: %d", len(entries))
	}
	e.mu.Lock()
	planned := slices.Clone(e.podCgroups)
	e.mu.Unlock()
	if len(planned) == 0 {
		t.Error("no pod was planned: the leak check of pod cgroups checks nothing")
	}
	for _, cg := range planned {
		if _, err := os.Stat(filepath.Join(e.cgroups.Mount(), cg)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pod cgroup %s left (%v)", cg, err)
		}
	}
	if recs, _ := e.m.records.List(); len(recs) != 0 {
		t.Errorf("records left: %d", len(recs))
	}
	if n := e.m.index.Len(); n != 0 {
		t.Errorf("manager still tracks %d pods", n)
	}
	e.mu.Lock()
	planned = slices.Clone(e.podIDs)
	e.mu.Unlock()
	for _, pid := range reapers(t, planned) {
		t.Errorf("reaper %d left running", pid)
	}
}

// reapers returns the live reaper processes of the pods with the given ids.
func reapers(t *testing.T, pods []string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 3 || args[1] != "pod-reaper" || !slices.Contains(pods, args[2]) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
			if len(fields) > 0 && fields[0] == "Z" {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

func TestKubeletMadeCgroupParentIsKept(t *testing.T) {
	e := newEnv(t)
	parent := filepath.Join(e.cgroups.Mount(), "crisptest-kubepods", "podkept")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(parent)
		os.Remove(filepath.Dir(parent))
	})
	spec := podSpec("kept")
	spec.CgroupParent = "/crisptest-kubepods/podkept"
	spec.PIDMode = ModePod // its reaper's cgroup goes below kubelet's
	sb, err := e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Cgroup != spec.CgroupParent || sb.CgroupOwned {
		t.Errorf("pod cgroup %q owned=%v, want kubelet's %q, not owned", sb.Cgroup, sb.CgroupOwned, spec.CgroupParent)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parent); err != nil {
		t.Errorf("kubelet's pod cgroup was removed with the pod: %v", err)
	}
	if children, _ := filepath.Glob(filepath.Join(parent, "crisp-*")); len(children) != 0 {
		t.Errorf("cgroups left below kubelet's pod cgroup: %v", children)
	}

	// A parent kubelet has not made yet is made, and removed with the pod.
	spec = podSpec("made")
	spec.CgroupParent = "/crisptest-kubepods/podmade"
	sb, err = e.m.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	made := filepath.Join(e.cgroups.Mount(), spec.CgroupParent)
	if _, err := os.Stat(made); err != nil || !sb.CgroupOwned {
		t.Fatalf("pod cgroup not made: %v (owned=%v)", err, sb.CgroupOwned)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(made); !os.IsNotExist(err) {
		t.Errorf("pod cgroup crisp made was not removed: %v", err)
	}
}

func TestDualStackPod(t *testing.T) {
	e := newEnv(t)
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"crisp-test","plugins":[
  {"type":"bridge","bridge":"crisptest6","isGateway":true,
   "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"fd00:99::/64"}],[{"subnet":"10.97.0.0/24"}]]}}]}`, e.ipamDir)
	if err := os.WriteFile(filepath.Join(e.confDir, "00-dual.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sb, err := e.m.Run(context.Background(), podSpec("dual"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.IPs) != 2 || !sb.IPs[0].Is4() || !sb.IPs[1].Is6() {
		t.Fatalf("dual-stack pod IPs = %v, want IPv4 first, then IPv6", sb.IPs)
	}
	if err := e.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
}

// childZombies lists the zombie children of pid.
func childZombies(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var zombies []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(pid) {
			zombies = append(zombies, child)
		}
	}
	return zombies
}
