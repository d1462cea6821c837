package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// CreateContainer creates a container in a ready pod: its writable layer,
// its OCI spec and its process, which waits for StartContainer.
func (s *RuntimeService) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	cfg := req.GetConfig()
	if err := validateContainerConfig(cfg); err != nil {
		return nil, err
	}
	c, err := s.containers.Create(ctx, req.PodSandboxId, cfg)
	if err != nil {
		// The spec names fields below the container's config.
		return nil, inField("config", criResourceField("linux.resources", err))
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}
