package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runtime is an in-memory CRI runtime service that keeps pods in a map and
// fails the calls a test asks it to, to check how podbench reacts.
type runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer

	mu       sync.Mutex
	pods     map[string]*runtimeapi.PodSandboxConfig
	state    map[string]runtimeapi.PodSandboxState
	configs  []*runtimeapi.PodSandboxConfig
	removed  []string
	next     int
	failStop int // fail the StopPodSandbox of the pod with this number (1-based); 0: never
	noIP     bool
	notReady bool
}

func newRuntime() *runtime {
	return &runtime{pods: map[string]*runtimeapi.PodSandboxConfig{}, state: map[string]runtimeapi.PodSandboxState{}}
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
	} {
		if err := run(context.Background(), o, io.Discard); err == nil {
			t.Errorf("run(%+v) succeeded", o)
		}
	}
}
