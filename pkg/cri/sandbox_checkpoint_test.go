package cri

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckpointPod and RestorePod refuse what they cannot honour, naming the
// field, before anything is frozen or made; unknown options are never
// ignored.
func TestPodCheckpointRequestsNameTheirBadField(t *testing.T) {
	f, c := newContainerService(t)
	ctx := background(t)
	dir := t.TempDir()
	ctr := func(name string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}
	}
	for name, tc := range map[string]struct {
		call  func() error
		field string
	}{
		"no pod": {func() error {
			_, err := c.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{OutputPath: dir, ContainerIds: []string{"aaa1"}})
			return err
		}, "pod_sandbox_id"},
		"no output": {func() error {
			_, err := c.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: "pod1", ContainerIds: []string{"aaa1"}})
			return err
		}, "output_path"},
		"checkpoint options": {func() error {
			_, err := c.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: "pod1", OutputPath: dir, ContainerIds: []string{"aaa1"}, Options: map[string]string{"tcp-established": "true"}})
			return err
		}, "options[tcp-established]"},
		"no containers": {func() error {
			_, err := c.CheckpointPod(ctx, &runtimeapi.CheckpointPodRequest{PodSandboxId: "pod1", OutputPath: dir})
			return err
		}, "container_ids"},
		"no checkpoint path": {func() error {
			_, err := c.RestorePod(ctx, &runtimeapi.RestorePodRequest{ContainerConfigs: []*runtimeapi.ContainerConfig{ctr("a")}})
			return err
		}, "checkpoint_path"},
		"restore options": {func() error {
			_, err := c.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: dir, ContainerConfigs: []*runtimeapi.ContainerConfig{ctr("a")}, Options: map[string]string{"x": "y"}})
			return err
		}, "options[x]"},
		"no container configs": {func() error {
			_, err := c.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: dir})
			return err
		}, "container_configs"},
		"a name twice": {func() error {
			_, err := c.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: dir, ContainerConfigs: []*runtimeapi.ContainerConfig{ctr("a"), ctr("a")}})
			return err
		}, "container_configs[1].metadata.name"},
		"not a checkpoint": {func() error {
			_, err := c.RestorePod(ctx, &runtimeapi.RestorePodRequest{CheckpointPath: dir, ContainerConfigs: []*runtimeapi.ContainerConfig{ctr("a")}})
			return err
		}, "checkpoint_path"},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("refused requests reached the container manager: %v", f.calls)
	}
}
