package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/bench/internal/procmem"
)

// runtime is an in-memory CRI runtime service that keeps pods in a map and
// fails the calls a test asks it to, to check how podbench reacts.
type runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	mu       sync.Mutex
	pods     map[string]*runtimeapi.PodSandboxConfig
	state    map[string]runtimeapi.PodSandboxState
	configs  []*runtimeapi.PodSandboxConfig
	removed  []string
	next     int
	failStop int // fail the StopPodSandbox of the pod with this number (1-based); 0: never
	noIP     bool
	notReady bool

	images      map[string]bool // pulled images by reference
	pulls       int
	ctrs        map[string]*container
	ctrConfigs  []*runtimeapi.ContainerConfig
	stopTimeout []int64
	lazyStart   bool // StartContainer succeeds but leaves the container created

	// Container events, sent to every GetContainerEvents stream; none
	// when noEvents (the RPC is then Unimplemented).
	noEvents bool
	watchers []chan *runtimeapi.ContainerEventResponse
	// subscribeLag is how long GetContainerEvents takes to subscribe, as
	// a busy runtime's handler may, after the client has its stream.
	subscribeLag time.Duration
}

// emit sends a container event to every stream. r.mu is held.
func (r *runtime) emit(id string, t runtimeapi.ContainerEventType) {
	for _, w := range r.watchers {
		w <- &runtimeapi.ContainerEventResponse{ContainerId: id, ContainerEventType: t}
	}
}

func (r *runtime) GetContainerEvents(_ *runtimeapi.GetEventsRequest, s runtimeapi.RuntimeService_GetContainerEventsServer) error {
	if r.noEvents {
		return status.Error(codes.Unimplemented, "no events")
	}
	time.Sleep(r.subscribeLag)
	w := make(chan *runtimeapi.ContainerEventResponse, 1024)
	r.mu.Lock()
	r.watchers = append(r.watchers, w)
	r.mu.Unlock()
	// As crisp does, the header says the subscription is live.
	if err := s.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case ev := <-w:
			if err := s.Send(ev); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (r *runtime) ListContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &runtimeapi.ListContainerStatsResponse{}
	for id := range r.ctrs {
		resp.Stats = append(resp.Stats, &runtimeapi.ContainerStats{Attributes: &runtimeapi.ContainerAttributes{Id: id}})
	}
	return resp, nil
}

// container is a container of the in-memory runtime.
type container struct {
	pod   string
	state runtimeapi.ContainerState
}

func newRuntime() *runtime {
	return &runtime{pods: map[string]*runtimeapi.PodSandboxConfig{}, state: map[string]runtimeapi.PodSandboxState{},
		images: map[string]bool{}, ctrs: map[string]*container{}}
}

func (r *runtime) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.images[req.Image.Image] {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:" + req.Image.Image}}, nil
}

func (r *runtime) PullImage(_ context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulls++
	r.images[req.Image.Image] = true
	return &runtimeapi.PullImageResponse{ImageRef: "sha256:" + req.Image.Image}, nil
}

func (r *runtime) RemoveImage(_ context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.images, req.Image.Image)
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (r *runtime) ListImages(context.Context, *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return &runtimeapi.ListImagesResponse{}, nil
}

func (r *runtime) CreateContainer(_ context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pods[req.PodSandboxId]; !ok || req.SandboxConfig == nil {
		return nil, status.Error(codes.NotFound, "no such pod")
	}
	if !r.images[strings.TrimPrefix(req.Config.Image.Image, "sha256:")] {
		return nil, status.Error(codes.NotFound, "image not pulled")
	}
	r.next++
	id := fmt.Sprintf("ctr-%d", r.next)
	r.ctrs[id] = &container{pod: req.PodSandboxId, state: runtimeapi.ContainerState_CONTAINER_CREATED}
	r.ctrConfigs = append(r.ctrConfigs, req.Config)
	r.emit(id, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (r *runtime) StartContainer(_ context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ctrs[req.ContainerId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such container")
	}
	if !r.lazyStart {
		c.state = runtimeapi.ContainerState_CONTAINER_RUNNING
		r.emit(req.ContainerId, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

func (r *runtime) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopTimeout = append(r.stopTimeout, req.Timeout)
	if c, ok := r.ctrs[req.ContainerId]; ok {
		c.state = runtimeapi.ContainerState_CONTAINER_EXITED
		r.emit(req.ContainerId, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (r *runtime) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ctrs[req.ContainerId]; ok {
		delete(r.ctrs, req.ContainerId)
		r.emit(req.ContainerId, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT)
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (r *runtime) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ctrs[req.ContainerId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such container")
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: req.ContainerId, State: c.state}}, nil
}

func (r *runtime) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for id, c := range r.ctrs {
		if pod := req.GetFilter().GetPodSandboxId(); pod == "" || pod == c.pod {
			resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: id, PodSandboxId: c.pod})
		}
	}
	return resp, nil
}

func (r *runtime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "memrt", RuntimeVersion: "1"}, nil
}

func (r *runtime) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: !r.notReady},
	}}}, nil
}

func (r *runtime) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	id := fmt.Sprintf("pod-%d", r.next)
	r.pods[id] = req.Config
	r.state[id] = runtimeapi.PodSandboxState_SANDBOX_READY
	r.configs = append(r.configs, req.Config)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (r *runtime) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.state[req.PodSandboxId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such pod")
	}
	ip := "10.0.0.1"
	if r.noIP {
		ip = ""
	}
	return &runtimeapi.PodSandboxStatusResponse{Status: &runtimeapi.PodSandboxStatus{
		Id: req.PodSandboxId, State: st, Network: &runtimeapi.PodSandboxNetworkStatus{Ip: ip},
	}}, nil
}

func (r *runtime) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failStop > 0 && req.PodSandboxId == fmt.Sprintf("pod-%d", r.failStop) {
		r.failStop = 0 // the cleanup's retry succeeds
		return nil, status.Error(codes.Internal, "injected stop failure")
	}
	if _, ok := r.state[req.PodSandboxId]; ok {
		r.state[req.PodSandboxId] = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (r *runtime) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, req.PodSandboxId)
	delete(r.state, req.PodSandboxId)
	for id, c := range r.ctrs {
		if c.pod == req.PodSandboxId {
			delete(r.ctrs, id)
		}
	}
	r.removed = append(r.removed, req.PodSandboxId)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (r *runtime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for id := range r.pods {
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: id})
	}
	return resp, nil
}

// serve serves r on a unix socket and returns its endpoint.
func serve(t *testing.T, r *runtime) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(s, r)
	runtimeapi.RegisterImageServiceServer(s, r)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return "unix://" + sock
}

func testOptions(endpoint string) options {
	return options{endpoint: endpoint, iterations: 5, warmup: 1, timeout: 5 * time.Second,
		readyTimeout: 300 * time.Millisecond, requireIP: true}
}

func TestRunMeasuresEveryIterationAndSendsKubeletsPodConfig(t *testing.T) {
	rt := newRuntime()
	o := testOptions(serve(t, rt))
	o.cgroupRoot = "/bench"
	var out strings.Builder
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "memrt (memrt 1): n=5 median=") {
		t.Errorf("output %q", out.String())
	}
	if len(rt.configs) != 6 || len(rt.pods) != 0 {
		t.Fatalf("%d pods run (want 6: a warm-up and 5), %d left (want 0)", len(rt.configs), len(rt.pods))
	}
	names, uids := map[string]bool{}, map[string]bool{}
	for _, c := range rt.configs {
		md := c.Metadata
		names[md.Name], uids[md.Uid] = true, true
		ns := c.Linux.SecurityContext.NamespaceOptions
		if ns.Network != runtimeapi.NamespaceMode_POD || ns.Ipc != runtimeapi.NamespaceMode_POD || ns.Pid != runtimeapi.NamespaceMode_CONTAINER {
			t.Errorf("namespace options %v, want kubelet's defaults", ns)
		}
		if c.Linux.CgroupParent != "/bench/pod"+md.Uid {
			t.Errorf("cgroup parent %q, want /bench/pod%s", c.Linux.CgroupParent, md.Uid)
		}
		if len(c.PortMappings) != 0 || c.DnsConfig == nil || c.Hostname != md.Name || md.Namespace == "" {
			t.Errorf("pod config %v", c)
		}
	}
	if len(names) != 6 || len(uids) != 6 {
		t.Errorf("%d names and %d uids for 6 pods: they must be unique", len(names), len(uids))
	}
}

func TestRunFailsLoudlyAndCleansUp(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*runtime)
		want   string
		remove string // pod the failed iteration must still remove
	}{
		{"stop error", func(r *runtime) { r.failStop = 3 }, "iteration 1: StopPodSandbox pod-3: rpc error: code = Internal desc = injected stop failure", "pod-3"},
		{"no IP", func(r *runtime) { r.noIP = true }, "warm-up iteration 0: pod sandbox pod-1 has no IP address", "pod-1"},
		{"network not ready", func(r *runtime) { r.notReady = true }, "NetworkReady false", ""},
		{"leftover pod", func(r *runtime) { r.pods["old"] = nil }, "runtime lists 1 pod sandboxes, want none: old", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRuntime()
			tt.setup(rt)
			err := run(context.Background(), testOptions(serve(t, rt)), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run error %v, want one containing %q", err, tt.want)
			}
			if tt.remove == "" {
				if len(rt.configs) != 0 {
					t.Errorf("%d pods run after a failed precondition", len(rt.configs))
				}
				return
			}
			if rt.removed[len(rt.removed)-1] != tt.remove {
				t.Errorf("removed %v, want the failed iteration's %s removed last", rt.removed, tt.remove)
			}
			if len(rt.pods) != 0 {
				t.Errorf("pods left after the failure: %v", rt.pods)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, o := range []options{
		{endpoint: "unix:///x", iterations: 0},
		{endpoint: "unix:///x", iterations: 1, warmup: -1},
		{endpoint: "tcp://127.0.0.1:1", iterations: 1},
		{endpoint: "unix:///x", iterations: 1, hold: 1},
		{endpoint: "unix:///x", iterations: 1, image: "img"},
		{endpoint: "unix:///x", iterations: 1, image: "img", command: []string{"sleep"}, hold: -1},
	} {
		if err := run(context.Background(), o, io.Discard); err == nil {
			t.Errorf("run(%+v) succeeded", o)
		}
	}
}

func TestRunWithContainers(t *testing.T) {
	rt := newRuntime()
	rt.images["img"] = true // present already: removed and pulled again
	o := testOptions(serve(t, rt))
	o.image, o.command, o.logDir, o.hold = "img", []string{"/bin/sleep", "3600"}, t.TempDir(), 3
	var out strings.Builder
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	if rt.pulls != 1 {
		t.Errorf("%d pulls, want 1", rt.pulls)
	}
	// A warm-up, 5 measured and 3 held pods, each with one container.
	if len(rt.configs) != 9 || len(rt.ctrConfigs) != 9 || len(rt.pods) != 0 || len(rt.ctrs) != 0 {
		t.Fatalf("%d pods and %d containers made (want 9 each), %d and %d left", len(rt.configs), len(rt.ctrConfigs), len(rt.pods), len(rt.ctrs))
	}
	for i, c := range rt.ctrConfigs {
		pod := rt.configs[i]
		if c.Image.Image != "sha256:img" || c.Image.UserSpecifiedImage != "img" || c.Command[0] != "/bin/sleep" || c.Args[0] != "3600" ||
			c.LogPath != "bench/0.log" || c.Labels["io.kubernetes.pod.uid"] != pod.Metadata.Uid {
			t.Errorf("container config %v", c)
		}
		if !strings.HasPrefix(pod.LogDirectory, o.logDir+"/podbench_"+pod.Metadata.Name+"_") {
			t.Errorf("pod log directory %q", pod.LogDirectory)
		}
	}
	// Only the measured pods' containers are stopped one by one, with
	// timeout 0; the held ones go with their pods.
	if len(rt.stopTimeout) != 6 || rt.stopTimeout[0] != 0 {
		t.Errorf("StopContainer timeouts %v, want six 0s", rt.stopTimeout)
	}
	logs, err := os.ReadDir(o.logDir)
	if err != nil || len(logs) != 0 {
		t.Errorf("log directory after the run: %v, %v; want it empty", logs, err)
	}
}

func TestRunWithContainersReportsCallsPullAndMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("needs /proc/self/smaps_rollup (Linux 4.14 or later):", err)
	}
	rt := newRuntime()
	o := testOptions(serve(t, rt))
	o.image, o.command, o.hold, o.jsonFile = "img", []string{"/bin/sleep", "3600"}, 2, "-"
	// This process stands for the daemon.
	o.memory = procmem.Selector{ProcRoot: "/proc", PID: os.Getpid()}
	var out strings.Builder
	if err := run(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	var r result
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatal(err)
	}
	for _, call := range []string{callRunPod, callCreateContainer, callStartContainer, callStopContainer, callRemoveContainer,
		callStopPod, callRemovePod, sumCreateStart, sumFromScratch} {
		if c, ok := r.Calls[call]; !ok || c.N != 5 || c.Median <= 0 {
			t.Errorf("%s: %+v, want 5 timed calls", call, c)
		}
	}
	if r.Image != "img" || r.PullMS <= 0 {
		t.Errorf("image %q pulled in %v ms", r.Image, r.PullMS)
	}
	idle, loaded := r.Memory[memoryIdle], r.Memory[memoryLoaded]
	if idle.Pods != 0 || loaded.Pods != 2 || idle.Daemon.RSSKiB <= 0 || loaded.All.RSSKiB < loaded.Daemon.RSSKiB {
		t.Errorf("memory %+v", r.Memory)
	}
}

func TestRunChecksTheContainerRuns(t *testing.T) {
	rt := newRuntime()
	rt.lazyStart = true
	o := testOptions(serve(t, rt))
	o.image, o.command = "img", []string{"/bin/sleep", "3600"}
	err := run(context.Background(), o, io.Discard)
	if want := "is CONTAINER_CREATED after StartContainer, want CONTAINER_RUNNING"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run error %v, want one containing %q", err, want)
	}
	if len(rt.pods) != 0 || len(rt.ctrs) != 0 {
		t.Errorf("left after the failure: pods %v, containers %v", rt.pods, rt.ctrs)
	}
}

// A scale run brings every pod and container up, polls them, tears them
// down and counts each container's four events, also those of the first
// changes, which a runtime slow to subscribe would miss if the run did not
// wait for it.
func TestScaleRun(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("needs /proc/self/smaps_rollup (Linux 4.14 or later):", err)
	}
	for _, noEvents := range []bool{false, true} {
		rt := newRuntime()
		rt.noEvents = noEvents
		rt.subscribeLag = 300 * time.Millisecond
		o := testOptions(serve(t, rt))
		o.image, o.command, o.jsonFile = "img", []string{"/bin/sleep", "3600"}, "-"
		o.memory = procmem.Selector{ProcRoot: "/proc", PID: os.Getpid()}
		o.scale = scaleOptions{pods: 3, containers: 2, workers: 2, window: 200 * time.Millisecond, interval: 20 * time.Millisecond}
		var out strings.Builder
		if err := run(context.Background(), o, &out); err != nil {
			t.Fatal(err)
		}
		var r result
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			t.Fatal(err)
		}
		s := r.Scale
		if s == nil || s.Pods != 3 || s.Containers != 2 || s.Rounds < 2 || s.UpSeconds <= 0 || s.All.RSSKiB <= 0 || s.Daemon.Threads < 1 {
			t.Fatalf("scale result %+v", s)
		}
		for _, c := range []string{callListPods, callListContainers, callListStats} {
			if st := s.Calls[c]; st.N != s.Rounds {
				t.Errorf("%s: %d calls in %d rounds", c, st.N, s.Rounds)
			}
		}
		want := eventCount{Supported: true, Expected: 24, Received: 24}
		if noEvents {
			want = eventCount{Expected: 24, Missing: 24}
		}
		if s.Events != want {
			t.Errorf("events %+v, want %+v", s.Events, want)
		}
		if len(rt.pods) != 0 || len(rt.ctrs) != 0 {
			t.Errorf("left %d pods and %d containers", len(rt.pods), len(rt.ctrs))
		}
	}
}
