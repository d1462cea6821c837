package cri

import (
	"context"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// defaultCheckpointTimeout bounds a checkpoint whose request sets none:
// CRIU writes as much as the container's memory.
const defaultCheckpointTimeout = 10 * time.Minute

// CheckpointContainer writes a checkpoint archive of a running container
// at location (a new file; the container keeps running), as CRI-O does.
func (s *RuntimeService) CheckpointContainer(ctx context.Context, req *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	if err := checkPath("location", req.GetLocation()); err != nil {
		return nil, err
	}
	if req.GetLocation() == "" {
		return nil, errdefs.InvalidField("location", "must not be empty")
	}
	timeout := defaultCheckpointTimeout
	switch t := req.GetTimeout(); {
	case t < 0:
		return nil, errdefs.InvalidField("timeout", "must not be negative")
	case t > 0:
		timeout = time.Duration(min(t, int64(24*time.Hour/time.Second))) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.containers.Checkpoint(ctx, req.GetContainerId(), req.GetLocation()); err != nil {
		return nil, err
	}
	return &runtimeapi.CheckpointContainerResponse{}, nil
}
