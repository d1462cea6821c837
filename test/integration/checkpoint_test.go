package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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
