package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// StartContainer starts a created container's process.
func (s *RuntimeService) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	if err := s.containers.Start(ctx, req.ContainerId); err != nil {
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}
