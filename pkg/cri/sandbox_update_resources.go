package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	ocispec "github.com/crisp-runtime/crisp/pkg/oci/spec"
)

// UpdatePodSandboxResources applies a resized pod's limits, its containers'
// resources plus the pod overhead, to the pod cgroup.
func (s *RuntimeService) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	res := ocispec.SandboxResourcesFromCRI(req.Overhead, req.Resources)
	if err := cgroups.ValidateResources(res); err != nil {
		return nil, criResourceField("resources", err)
	}
	if err := s.sandboxes.UpdateResources(ctx, req.PodSandboxId, res); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
