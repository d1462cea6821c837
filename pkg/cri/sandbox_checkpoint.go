package cri

import (
	"context"
	"fmt"
	"sort"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// CheckpointPod writes one consistent checkpoint of the selected running
// containers of a ready pod into output_path, an existing empty directory:
// all are frozen before the first is captured and thawed before it
// returns, on success, error or deadline (docs/checkpoint.md).
func (s *RuntimeService) CheckpointPod(ctx context.Context, req *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	if err := checkPath("output_path", req.GetOutputPath()); err != nil {
		return nil, err
	}
	if req.GetOutputPath() == "" {
		return nil, errdefs.InvalidField("output_path", "must not be empty")
	}
	if err := checkNoOptions(req.GetOptions()); err != nil {
		return nil, err
	}
	if len(req.GetContainerIds()) == 0 {
		return nil, errdefs.InvalidField("container_ids", "must not be empty")
	}
	if len(req.GetContainerIds()) > maxListLen {
		return nil, errdefs.InvalidField("container_ids", fmt.Sprintf("more than %d entries", maxListLen))
	}
	sb, err := s.sandboxes.Get(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	if sb.State != sandbox.StateReady {
		return nil, fmt.Errorf("pod_sandbox_id: pod sandbox %s is %s, not ready: %w", sb.ID, sb.State, errdefs.ErrFailedPrecondition)
	}
	// The caller must set a deadline; one that does not gets the
	// container checkpoint's.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCheckpointTimeout)
		defer cancel()
	}
	if err := s.containers.CheckpointPod(ctx, sb.ID, req.GetContainerIds(), req.GetOutputPath()); err != nil {
		return nil, err
	}
	return &runtimeapi.CheckpointPodResponse{}, nil
}

// checkNoOptions refuses runtime-specific checkpoint and restore options:
// crisp has none, and an unknown key must not be silently ignored.
func checkNoOptions(opts map[string]string) error {
	if len(opts) == 0 {
		return nil
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := checkText("options", keys[0], maxLabelKeyLen); err != nil {
		return errdefs.InvalidField("options", "crisp has no checkpoint or restore options")
	}
	return errdefs.InvalidField("options["+keys[0]+"]", "crisp has no checkpoint or restore options")
}
