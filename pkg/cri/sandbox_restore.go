package cri

import (
	"context"
	"fmt"
	"slices"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// RestorePod makes a new pod from config (new namespaces, network and
// cgroup) and in it, from a checkpoint CheckpointPod wrote, one container
// per container_configs entry, matched by name. The containers are
// created with their processes restored and stopped: they resume at
// StartContainer. On error the pod and everything made in it are removed.
func (s *RuntimeService) RestorePod(ctx context.Context, req *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	if err := checkPath("checkpoint_path", req.GetCheckpointPath()); err != nil {
		return nil, err
	}
	if req.GetCheckpointPath() == "" {
		return nil, errdefs.InvalidField("checkpoint_path", "must not be empty")
	}
	if err := checkNoOptions(req.GetOptions()); err != nil {
		return nil, err
	}
	cfgs := req.GetContainerConfigs()
	if len(cfgs) == 0 {
		return nil, errdefs.InvalidField("container_configs", "must not be empty")
	}
	if len(cfgs) > maxListLen {
		return nil, errdefs.InvalidField("container_configs", fmt.Sprintf("more than %d entries", maxListLen))
	}
	names := make([]string, 0, len(cfgs))
	for i, cfg := range cfgs {
		field := fmt.Sprintf("container_configs[%d]", i)
		if err := validateContainerConfig(cfg); err != nil {
			return nil, inField(field, err)
		}
		if slices.Contains(names, cfg.Metadata.Name) {
			return nil, errdefs.InvalidField(field+".metadata.name", fmt.Sprintf("%s is named twice", cfg.Metadata.Name))
		}
		names = append(names, cfg.Metadata.Name)
	}
	p, err := container.OpenPodCheckpoint("checkpoint_path", req.CheckpointPath)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	if have := p.Names(); !slices.Equal(have, names) {
		return nil, errdefs.InvalidField("container_configs", fmt.Sprintf("the checkpoint has containers %s; the request names %s",
			strings.Join(have, ", "), strings.Join(names, ", ")))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCheckpointTimeout)
		defer cancel()
	}
	run, err := s.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: req.GetConfig(), RuntimeHandler: req.GetRuntimeHandler()})
	if err != nil {
		return nil, err
	}
	podID := run.PodSandboxId
	resp := &runtimeapi.RestorePodResponse{PodSandboxId: podID}
	for i, cfg := range cfgs {
		c, err := s.containers.RestorePodContainer(ctx, podID, cfg, p)
		if err != nil {
			s.removeRestoredPod(ctx, podID)
			return nil, inField(fmt.Sprintf("container_configs[%d]", i), err)
		}
		resp.RestoredContainers = append(resp.RestoredContainers, &runtimeapi.RestoredContainer{Name: cfg.Metadata.Name, ContainerId: c.ID})
	}
	return resp, nil
}

// removeRestoredPod removes a pod a failed RestorePod made, with its
// containers, even past the request's deadline.
func (s *RuntimeService) removeRestoredPod(ctx context.Context, podID string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.sandboxes.Stop(ctx, podID); err != nil {
		klog.ErrorS(err, "Stopping the pod of a failed restore", "pod", podID)
	}
	if err := s.sandboxes.Remove(ctx, podID); err != nil {
		klog.ErrorS(err, "Removing the pod of a failed restore", "pod", podID)
	}
}
