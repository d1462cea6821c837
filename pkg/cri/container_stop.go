package cri

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// StopContainer sends the container's stop signal, and SIGKILL once timeout
// seconds pass. Stopping a stopped or removed container succeeds, as
// kubelet expects.
func (s *RuntimeService) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	if req.GetTimeout() < 0 {
		return nil, errdefs.InvalidField("timeout", "must not be negative")
	}
	timeout := time.Duration(req.GetTimeout()) * time.Second
	if err := s.containers.Stop(ctx, req.ContainerId, timeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}
