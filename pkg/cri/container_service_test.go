package cri

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
)

// fakeContainers records calls and answers from a fixed set of containers.
type fakeContainers struct {
	byID    map[string]*container.Container
	calls   []string
	timeout time.Duration
	// stats, when set, makes the samples Stats returns.
	stats      func() *container.Stats
	filesystem *image.Capacity
	subscribed atomic.Bool
	// live counts subscriptions whose context has not ended.
	live atomic.Int32
}

func (f *fakeContainers) Create(_ context.Context, podID string, cfg *runtimeapi.ContainerConfig) (*container.Container, error) {
	f.calls = append(f.calls, "create "+podID+" "+cfg.Metadata.Name)
	return &container.Container{ID: "new"}, nil
}

func (f *fakeContainers) Start(_ context.Context, id string) error { return f.call("start", id) }

func (f *fakeContainers) Stop(_ context.Context, id string, timeout time.Duration) error {
	f.timeout = timeout
	return f.call("stop", id)
}

func (f *fakeContainers) Remove(_ context.Context, id string) error { return f.call("remove", id) }

func (f *fakeContainers) Get(id string) (*container.Container, error) {
	if c, ok := f.byID[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
}

func (f *fakeContainers) List() []*container.Container {
	var out []*container.Container
	for _, c := range f.byID {
		out = append(out, c)
	}
	return out
}

func (f *fakeContainers) PodContainers(podID string) []*container.Container {
	var out []*container.Container
	for _, c := range f.byID {
		if c.PodID == podID {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeContainers) UpdateResources(_ context.Context, id string, _ *runtimeapi.LinuxContainerResources) error {
	return f.call("update", id)
}

func (f *fakeContainers) ReopenLog(_ context.Context, id string) error { return f.call("reopen", id) }
func (f *fakeContainers) Checkpoint(_ context.Context, id, _ string) error {
	return f.call("checkpoint", id)
}

func (f *fakeContainers) CheckpointPod(_ context.Context, podID string, _ []string, _ string) error {
	f.calls = append(f.calls, "checkpoint-pod "+podID)
	return nil
}

func (f *fakeContainers) RestorePodContainer(_ context.Context, podID string, cfg *runtimeapi.ContainerConfig, _ *container.PodCheckpoint) (*container.Container, error) {
	f.calls = append(f.calls, "restore "+podID+" "+cfg.Metadata.Name)
	return &container.Container{ID: "restored-" + cfg.Metadata.Name}, nil
}

func (f *fakeContainers) ExecSync(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, []byte, int32, error) {
	if err := f.call("exec", id); err != nil {
		return nil, nil, 0, err
	}
	return []byte(strings.Join(cmd, " ")), nil, 7, nil
}

func (f *fakeContainers) Filesystem() (image.Capacity, error) {
	if f.filesystem != nil {
		return *f.filesystem, nil
	}
	return image.Capacity{Device: "/dev/test", Bytes: 1 << 20, Inodes: 100}, nil
}

func (f *fakeContainers) Stats(_ context.Context, id string) (*container.Stats, error) {
	if err := f.call("stats", id); err != nil {
		return nil, err
	}
	if f.stats != nil {
		return f.stats(), nil
	}
	return &container.Stats{
		Cgroup:        &cgroups.Stats{Timestamp: time.Unix(10, 0), CPU: cgroups.CPUStats{UsageUsec: 5}},
		WritableLayer: image.Usage{Bytes: 4096, Inodes: 3},
		Mountpoint:    "/var/lib/crisp/storage",
		Timestamp:     time.Unix(10, 0),
	}, nil
}

func (f *fakeContainers) ProcessStats(id string) (*cgroups.ProcessStats, error) {
	if err := f.call("processes", id); err != nil {
		return nil, err
	}
	return &cgroups.ProcessStats{Processes: 2, Threads: 3, FileDescriptors: 7, Sockets: 1}, nil
}

// Subscribe sends an event for each container, in id order, then waits
// for ctx.
func (f *fakeContainers) Subscribe(ctx context.Context) <-chan container.Event {
	f.subscribed.Store(true)
	f.live.Add(1)
	context.AfterFunc(ctx, func() { f.live.Add(-1) })
	ch := make(chan container.Event, len(f.byID))
	ids := slices.Sorted(maps.Keys(f.byID))
	for i, id := range ids {
		ch <- container.Event{Type: container.EventType(i % 4), Container: f.byID[id], At: time.Unix(int64(100+i), 0)}
	}
	context.AfterFunc(ctx, func() { close(ch) })
	return ch
}

func (f *fakeContainers) call(what, id string) error {
	f.calls = append(f.calls, what+" "+id)
	if _, ok := f.byID[id]; !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return nil
}

func newContainerService(t *testing.T) (*fakeContainers, runtimeapi.RuntimeServiceClient) {
	t.Helper()
	f := &fakeContainers{byID: map[string]*container.Container{
		"aaa1": {ID: "aaa1", PodID: "pod1", Metadata: container.Metadata{Name: "web"}, State: container.StateRunning,
			Labels: map[string]string{"app": "web"}, StopSignal: "SIGQUIT", Pid: 42, CreatedAt: time.Unix(1, 0), StartedAt: time.Unix(2, 0)},
		"bbb2": {ID: "bbb2", PodID: "pod2", Metadata: container.Metadata{Name: "job"}, State: container.StateExited,
			ExitCode: 3, Reason: container.ReasonError, CreatedAt: time.Unix(1, 0), StartedAt: time.Unix(2, 0), FinishedAt: time.Unix(3, 0)},
		"ccc3": {ID: "ccc3", PodID: "pod1", State: container.StateCreating},
	}}
	cfg := config.Default()
	return f, serve(t, NewRuntimeService(cfg, RuntimeDeps{Network: networkStatus{}, Containers: f, Sandboxes: streamPods{}}))
}

// Requests missing a required field are refused naming it, before the
// container manager is called.
func TestContainerRequestsNameTheirBadField(t *testing.T) {
	f, c := newContainerService(t)
	ctx := background(t)
	for _, tc := range []struct {
		field string
		call  func() error
	}{
		{"pod_sandbox_id", func() error {
			_, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{Config: &runtimeapi.ContainerConfig{}})
			return err
		}},
		{"config", func() error {
			_, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1"})
			return err
		}},
		{"config.metadata.name", func() error {
			_, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1", Config: &runtimeapi.ContainerConfig{
				Image: &runtimeapi.ImageSpec{Image: "busybox"}}})
			return err
		}},
		{"config.image.image", func() error {
			_, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1", Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: "web"}}})
			return err
		}},
		{"container_id", func() error { _, err := c.StartContainer(ctx, &runtimeapi.StartContainerRequest{}); return err }},
		{"container_id", func() error { _, err := c.StopContainer(ctx, &runtimeapi.StopContainerRequest{}); return err }},
		{"timeout", func() error {
			_, err := c.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "aaa1", Timeout: -1})
			return err
		}},
		{"container_id", func() error { _, err := c.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{}); return err }},
		{"container_id", func() error { _, err := c.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{}); return err }},
		{"linux", func() error {
			_, err := c.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: "aaa1"})
			return err
		}},
		{"container_id", func() error { _, err := c.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{}); return err }},
		{"cmd", func() error { _, err := c.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "aaa1"}); return err }},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("want InvalidArgument naming %s, got %v", tc.field, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("the manager was called for invalid requests: %v", f.calls)
	}
}

func TestContainerCallsReachTheManager(t *testing.T) {
	f, c := newContainerService(t)
	ctx := background(t)
	if r, err := c.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "pod1", Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "web"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}}); err != nil || r.ContainerId != "new" {
		t.Errorf("CreateContainer = %v, %v", r, err)
	}
	if _, err := c.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "aaa1", Timeout: 30}); err != nil || f.timeout != 30*time.Second {
		t.Errorf("StopContainer: %v, timeout %v", err, f.timeout)
	}
	// Stopping a container that is gone succeeds, as kubelet expects.
	if _, err := c.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "gone"}); err != nil {
		t.Errorf("StopContainer of an unknown container: %v", err)
	}
	if _, err := c.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "gone"}); status.Code(err) != codes.NotFound {
		t.Errorf("StartContainer of an unknown container: %v, want NotFound", err)
	}
	if r, err := c.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "aaa1", Cmd: []string{"echo", "hi"}}); err != nil || string(r.Stdout) != "echo hi" || r.ExitCode != 7 {
		t.Errorf("ExecSync = %v, %v", r, err)
	}
	want := []string{"create pod1 web", "stop aaa1", "stop gone", "start gone", "exec aaa1"}
	if strings.Join(f.calls, ",") != strings.Join(want, ",") {
		t.Errorf("calls %v, want %v", f.calls, want)
	}
}

func TestListContainersFilters(t *testing.T) {
	_, c := newContainerService(t)
	ctx := background(t)
	for _, tc := range []struct {
		name   string
		filter *runtimeapi.ContainerFilter
		want   string
	}{
		{"all but the one being created", nil, "aaa1,bbb2"},
		{"id prefix", &runtimeapi.ContainerFilter{Id: "bb"}, "bbb2"},
		{"pod", &runtimeapi.ContainerFilter{PodSandboxId: "pod1"}, "aaa1"},
		{"state", &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}}, "bbb2"},
		{"label", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"app": "web"}}, "aaa1"},
		{"label mismatch", &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"app": "db"}}, ""},
	} {
		r, err := c.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: tc.filter})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ctr := range r.Containers {
			ids = append(ids, ctr.Id)
		}
		slices.Sort(ids)
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("%s: listed %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestContainerStatusReportsExitAndInfo(t *testing.T) {
	_, c := newContainerService(t)
	ctx := background(t)
	r, err := c.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "bbb2"})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Status
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 3 || st.Reason != "Error" ||
		st.FinishedAt != time.Unix(3, 0).UnixNano() || st.StartedAt != time.Unix(2, 0).UnixNano() || r.Info != nil {
		t.Errorf("exited container status %v", st)
	}
	r, err = c.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "aaa1", Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status.FinishedAt != 0 || r.Status.StopSignal != runtimeapi.Signal_SIGNAL_SIGQUIT || !strings.Contains(r.Info["info"], `"pid":42`) {
		t.Errorf("running container status %v, info %v", r.Status, r.Info)
	}
	if _, err := c.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "gone"}); status.Code(err) != codes.NotFound {
		t.Errorf("status of an unknown container: %v, want NotFound", err)
	}
}

func TestContainerStats(t *testing.T) {
	_, c := newContainerService(t)
	ctx := background(t)
	r, err := c.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "aaa1"})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats
	if st.Attributes.Id != "aaa1" || st.Attributes.Metadata.Name != "web" || st.WritableLayer.UsedBytes.Value != 4096 ||
		st.WritableLayer.InodesUsed.Value != 3 || st.WritableLayer.FsId.Mountpoint != "/var/lib/crisp/storage" ||
		st.Cpu.UsageCoreNanoSeconds.Value != 5000 {
		t.Errorf("container stats %v", st)
	}
	if _, err := c.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("stats without an id: %v, want InvalidArgument", err)
	}
	if _, err := c.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: "gone"}); status.Code(err) != codes.NotFound {
		t.Errorf("stats of an unknown container: %v, want NotFound", err)
	}
	// Only created and running containers have live use to report.
	l, err := c.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Stats) != 1 || l.Stats[0].Attributes.Id != "aaa1" {
		t.Errorf("ListContainerStats = %v, want aaa1 alone", l.Stats)
	}
	l, err = c.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: "pod2"}})
	if err != nil || len(l.Stats) != 0 {
		t.Errorf("ListContainerStats of pod2 = %v, %v; want none", l.GetStats(), err)
	}
}

// The stream's header comes once the subscription is live, before any
// event, so a client can wait for it and know it misses no change it makes
// afterwards.
func TestGetContainerEventsHeaderMeansSubscribed(t *testing.T) {
	f, c := newContainerService(t)
	f.byID = map[string]*container.Container{} // no events to send
	ctx, cancel := context.WithTimeout(background(t), 5*time.Second)
	defer cancel()
	stream, err := c.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Header returns no metadata when the stream ended without one.
	if md, err := stream.Header(); err != nil || md == nil || ctx.Err() != nil {
		t.Fatalf("header %v, %v, stream %v: want one while the stream is live", md, err, ctx.Err())
	}
	if !f.subscribed.Load() {
		t.Error("the header came before the subscription")
	}
}

// Clients that go away at any point, before the header or after it, all
// at once, leave no subscription behind, and the server still serves.
func TestGetContainerEventsCancelledStreamsLeaveNoSubscription(t *testing.T) {
	f, c := newContainerService(t)
	f.byID = map[string]*container.Container{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(background(t))
			defer cancel()
			stream, err := c.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
			if err != nil {
				return // cancelled before the call was made
			}
			if i%2 == 0 {
				_, _ = stream.Header()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for f.live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions left after every client went away", f.live.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(background(t), 5*time.Second)
	defer cancel()
	stream, err := c.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if md, err := stream.Header(); err != nil || md == nil {
		t.Fatalf("a new stream after the others: header %v, %v", md, err)
	}
}

func TestGetContainerEventsStreamsLifecycleWithStatuses(t *testing.T) {
	_, c := newContainerService(t)
	ctx, cancel := context.WithCancel(background(t))
	defer cancel()
	stream, err := c.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var statuses []string
		for _, st := range ev.ContainersStatuses {
			statuses = append(statuses, st.Id)
		}
		pod := "none"
		if ev.PodSandboxStatus != nil {
			pod = ev.PodSandboxStatus.Id
		}
		got = append(got, fmt.Sprintf("%s %s %d pod=%s containers=%s", ev.ContainerId, ev.ContainerEventType, ev.CreatedAt/1e9, pod, strings.Join(statuses, ",")))
	}
	want := []string{
		// pod1 resolves (as a prefix) to pod1-full; the container still
		// being created is not reported.
		"aaa1 CONTAINER_CREATED_EVENT 100 pod=pod1-full containers=aaa1",
		"bbb2 CONTAINER_STARTED_EVENT 101 pod=none containers=bbb2",
		"ccc3 CONTAINER_STOPPED_EVENT 102 pod=pod1-full containers=aaa1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
