package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/test/internal/crisptest"
)

// writePodCheckpoint writes a pod checkpoint of one container, name, in
// CheckpointPod's layout, whose checkpointed process ran args on image;
// no CRIU images are needed for what is refused before CRIU runs.
func writePodCheckpoint(t *testing.T, dir, name, image string, args []string) {
	t.Helper()
	write := func(path string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "pod.options"), map[string]any{"version": 1, "containers": map[string]string{name: name}})
	write(filepath.Join(dir, name, "config.dump"), map[string]any{"id": "old", "rootfsImageName": image})
	write(filepath.Join(dir, name, "spec.dump"), map[string]any{
		"ociVersion": "1.0.0", "root": map[string]any{"path": "/"}, "linux": map[string]any{},
		"process": map[string]any{"args": args, "cwd": "/", "env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	})
	write(filepath.Join(dir, name, "checkpoint", "inventory.img"), "x")
}

// A RestorePod whose container config is not the checkpointed process is
// refused naming the field, and the pod it had made for the restore is
// removed: nothing of it is listed afterwards.
func TestRestorePodRefusalRemovesThePod(t *testing.T) {
	d := newDaemon(t, "")
	d.Start(t, "--cgroup-driver", "cgroupfs")
	c := d.Client(t)
	image := loadBusybox(t, d)
	dir := t.TempDir()
	writePodCheckpoint(t, dir, "job", image, []string{"sh", "-c", "the checkpointed job"})

	_, err := c.RestorePod(ctx(t), &runtimeapi.RestorePodRequest{
		CheckpointPath: dir,
		Config:         hostNetworkPod(d, "restored"),
		ContainerConfigs: []*runtimeapi.ContainerConfig{{
			Metadata: &runtimeapi.ContainerMetadata{Name: "job"},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Command:  []string{"sh", "-c", "another job"},
			Linux:    &runtimeapi.LinuxContainerConfig{},
		}},
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "container_configs[0].command") {
		t.Fatalf("RestorePod of another process: %v, want InvalidArgument naming container_configs[0].command", err)
	}
	pods, err := c.ListPodSandbox(ctx(t), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("a refused RestorePod left pods: %v", pods.Items)
	}
	ctrs, err := c.ListContainers(ctx(t), &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs.Containers) != 0 {
		t.Errorf("a refused RestorePod left containers: %v", ctrs.Containers)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "job", "checkpoint", "inventory.img")); err != nil || string(data) != `"x"` {
		t.Errorf("the checkpoint changed: %q, %v", data, err)
	}
}

// counterConfig is a container that logs 1, 2, 3... to counter-name.log.
func counterConfig(image, name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Command:  []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"},
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{},
	}
}

// numbers are the numbers a counter logged, in order.
func numbers(t *testing.T, path string) []int {
	var out []int
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// waitNumbers waits until the counter logging to path logged more than n
// numbers.
func waitNumbers(t *testing.T, path string, n int) []int {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if got := numbers(t, path); len(got) > n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has only %v", path, numbers(t, path))
		}
	}
}

// A two-container pod goes through CheckpointPod, RestorePod and
// StartContainer through the CRI: both restored containers wait, created,
// until started, and then count on from where the checkpoint caught them.
func TestPodCheckpointRestoreThroughCRI(t *testing.T) {
	crisptest.RequireCRIU(t)
	d := newDaemon(t, "")
	d.Start(t, "--cgroup-driver", "cgroupfs")
	c := d.Client(t)
	image := loadBusybox(t, d)
	long := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		t.Cleanup(cancel)
		return ctx
	}
	podCfg := hostNetworkPod(d, "origin")
	pod, err := c.RunPodSandbox(long(), &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"one", "two"}
	var ids []string
	for _, name := range names {
		ctr, err := c.CreateContainer(long(), &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: counterConfig(image, name), SandboxConfig: podCfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.StartContainer(long(), &runtimeapi.StartContainerRequest{ContainerId: ctr.ContainerId}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ctr.ContainerId)
		waitNumbers(t, filepath.Join(podCfg.LogDirectory, name+".log"), 3)
	}
	dir := t.TempDir()
	if _, err := c.CheckpointPod(long(), &runtimeapi.CheckpointPodRequest{PodSandboxId: pod.PodSandboxId, OutputPath: dir, ContainerIds: ids}); err != nil {
		t.Fatal(err)
	}
	caught := map[string]int{}
	for _, name := range names {
		got := numbers(t, filepath.Join(podCfg.LogDirectory, name+".log"))
		caught[name] = got[len(got)-1]
	}
	if _, err := c.StopPodSandbox(long(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemovePodSandbox(long(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
		t.Fatal(err)
	}

	newCfg := hostNetworkPod(d, "restored")
	resp, err := c.RestorePod(long(), &runtimeapi.RestorePodRequest{
		CheckpointPath: dir, Config: newCfg,
		ContainerConfigs: []*runtimeapi.ContainerConfig{counterConfig(image, "one"), counterConfig(image, "two")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RestoredContainers) != 2 || resp.PodSandboxId == "" {
		t.Fatalf("RestorePod answered %v", resp)
	}
	for _, rc := range resp.RestoredContainers {
		st, err := c.ContainerStatus(long(), &runtimeapi.ContainerStatusRequest{ContainerId: rc.ContainerId})
		if err != nil || st.Status.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			t.Fatalf("restored %s: %v, %v; want created", rc.Name, st, err)
		}
	}
	for _, rc := range resp.RestoredContainers {
		if _, err := c.StartContainer(long(), &runtimeapi.StartContainerRequest{ContainerId: rc.ContainerId}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rc := range resp.RestoredContainers {
		got := waitNumbers(t, filepath.Join(newCfg.LogDirectory, rc.Name+".log"), 2)
		// The checkpoint was taken before caught was read: the restored
		// counter's first number is at most one past it, and past 3.
		if got[0] <= 3 || got[0] > caught[rc.Name]+1 {
			t.Errorf("restored %s began at %d; it had passed 3 before the checkpoint and reached %d", rc.Name, got[0], caught[rc.Name])
		}
	}
	if _, err := c.StopPodSandbox(long(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: resp.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemovePodSandbox(long(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: resp.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
}
