package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// UpdateContainerResources changes a container's cgroup limits in place.
func (s *RuntimeService) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	if req.GetLinux() == nil {
		return nil, errdefs.InvalidField("linux", "must be set on Linux")
	}
	if err := s.containers.UpdateResources(ctx, req.ContainerId, req.Linux); err != nil {
		return nil, criResourceField("linux", err)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}
