package reliability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/internal/crisptest"
)

// env is one daemon in a network namespace of its own with a bridge pod
// network, the busybox image, and a cgroup parent for its pods.
type env struct {
	d     *crisptest.Daemon
	rt    runtimeapi.RuntimeServiceClient
	img   runtimeapi.ImageServiceClient
	image string
	// cgroupParent is the cgroupfs path below which every pod's cgroup is
	// made.
	cgroupParent string
	// logs is the parent of every pod's log directory.
	logs string
	fp   *Footprint
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tag := make([]byte, 5)
	rand.Read(tag)
	hexTag := hex.EncodeToString(tag)

	d := crisptest.NewDaemon(t, crispBin, "")
	d.Netns = crisptest.NewNetns(t)
	// A daemon that reads a hostile file without bound (a seccomp
	// profile on /dev/zero) must not take the shared host's memory.
	d.AddressSpaceLimit = 4 << 30
	network := crisptest.SetupPodNetwork(t, d, "crisp-rel", "crel"+hexTag)
	image := crisptest.LoadBusybox(t, d)

	mount := crisptest.CgroupMount(t)
	cgroupParent := "/crisp-rel-" + hexTag
	abs := filepath.Join(mount, cgroupParent)
	if err := os.Mkdir(abs, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered before the daemon starts, so it runs after the daemon is
	// gone: rmdir fails while anything is left in it, which the leak
	// accounting reports.
	t.Cleanup(func() { unix.Rmdir(abs) })

	holder, err := strconv.Atoi(strings.Split(d.Netns, "/")[2])
	if err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(d.Dir, "logs")
	e := &env{d: d, image: image, cgroupParent: cgroupParent, logs: logs}
	e.fp = &Footprint{
		Root: d.Root, State: d.State,
		Netns: d.Netns, Bridge: network.Bridge,
		IPAMDir: network.IPAMDir, Network: network.Name,
		CgroupParent: abs,
		Owned:        []string{d.Dir},
		Exclude:      []int{holder},
	}
	if e.fp.Layers, err = e.fp.StorageLayers(); err != nil {
		t.Fatal(err)
	}
	if len(e.fp.Layers) == 0 {
		t.Fatal("no storage layer after loading the image")
	}
	d.Start(t, "--cgroup-driver", "cgroupfs")
	conn := d.Conn(t)
	e.rt = runtimeapi.NewRuntimeServiceClient(conn)
	e.img = runtimeapi.NewImageServiceClient(conn)
	// A test that stops early leaves its pods: remove them so that the
	// host gets its mounts, cgroups and processes back.
	t.Cleanup(func() {
		if d.Running() {
			e.sweep()
		}
	})
	return e
}

// call is a context for one CRI call, bounded so that a hung daemon fails
// the test instead of stalling it.
func call(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// waitForReady makes a call wait for the daemon to serve again rather than
// fail while it restarts.
var waitForReady = grpc.WaitForReady(true)

// podConfig is a valid pod on the pod network named name, with its own
// cgroup below the env's parent and its own log directory.
func (e *env) podConfig(t testing.TB, name string) *runtimeapi.PodSandboxConfig {
	uid := name + "-uid"
	// kubelet makes the pod's log directory before it runs the pod. The
	// crash test calls this from its goroutines: report, do not stop.
	if err := os.MkdirAll(filepath.Join(e.logs, name), 0o755); err != nil {
		t.Error(err)
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "rel", Uid: uid},
		Hostname:     name,
		LogDirectory: filepath.Join(e.logs, name),
		Labels:       map[string]string{"suite": "reliability"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: e.cgroupParent + "/pod-" + uid,
		},
	}
}

// containerConfig is a valid container named name running sh -c script.
func (e *env) containerConfig(name, script string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: e.image},
		Command:  []string{"sh", "-c", script},
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{},
	}
}

// longScript runs until it gets SIGTERM and then exits with longExitCode:
// the trap runs as soon as the shell's wait is interrupted. /trapped
// says the trap is set; trappedScript waits for it.
const (
	longScript    = "trap 'exit 7' TERM; : >/trapped; sleep 3600 & wait"
	trappedScript = "until [ -e /trapped ]; do sleep 0.01; done"
	longExitCode  = 7
	shortScript   = "exit 3"
	shortExit     = 3
)

// removeAll removes every container and pod the daemon lists, through the
// CRI, and fails the test for every removal that does not succeed.
func (e *env) removeAll(t *testing.T) {
	t.Helper()
	ctx, cancel := call(t)
	defer cancel()
	cs, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}, waitForReady)
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	for _, c := range cs.Containers {
		if _, err := e.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.Id, Timeout: 0}); err != nil {
			t.Errorf("StopContainer %s (%s): %v", c.Id, c.State, err)
		}
		if _, err := e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			t.Errorf("RemoveContainer %s: %v", c.Id, err)
		}
	}
	ps, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatalf("ListPodSandbox: %v", err)
	}
	for _, p := range ps.Items {
		if _, err := e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("StopPodSandbox %s (%s): %v", p.Id, p.State, err)
		}
		if _, err := e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("RemovePodSandbox %s: %v", p.Id, err)
		}
	}
	if cs, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err != nil || len(cs.Containers) != 0 {
		t.Errorf("after removing everything ListContainers = %v, %v", cs.GetContainers(), err)
	}
	if ps, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err != nil || len(ps.Items) != 0 {
		t.Errorf("after removing everything ListPodSandbox = %v, %v", ps.GetItems(), err)
	}
}

// sweep removes what the daemon lists, ignoring failures: the test has
// failed already.
func (e *env) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cs, err := e.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); err == nil {
		for _, c := range cs.Containers {
			e.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id})
		}
	}
	if ps, err := e.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err == nil {
		for _, p := range ps.Items {
			e.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id})
			e.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id})
		}
	}
}

// checkNoLeaks stops the daemon and fails the test for everything of its
// footprint that is left.
func (e *env) checkNoLeaks(t *testing.T) {
	t.Helper()
	if e.d.Running() {
		if err := e.d.Stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	}
	leaks, err := e.fp.Leaks()
	if err != nil {
		t.Errorf("leak accounting: %v", err)
	}
	for _, l := range leaks {
		t.Errorf("left behind: %s", l)
	}
	if len(leaks) == 0 && err == nil {
		t.Logf("nothing left behind")
	}
}

// waitState polls ContainerStatus until the container is in state, and
// returns its status.
func (e *env) waitState(t testing.TB, id string, state runtimeapi.ContainerState, timeout time.Duration) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := call(t)
		st, err := e.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		cancel()
		if err != nil {
			t.Fatalf("ContainerStatus %s: %v", id, err)
		}
		if st.Status.State == state {
			return st.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %v after %v, want %v", id, st.Status.State, timeout, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procFigures reads the daemon's resident memory (VmRSS, in KiB) and open file
// descriptors.
func procFigures(pid int) (rssKiB, fds int, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKiB, err = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return 0, 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
		}
	}
	des, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	return rssKiB, len(des), nil
}
