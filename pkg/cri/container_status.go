package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ContainerStatus reports a container's state, exit, image, mounts, log path
// and resources. Verbose adds an "info" entry with its pid, pod and bundle,
// as crictl inspect shows it, and for a container made from a checkpoint
// what it was restored from.
func (s *RuntimeService) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	c, err := s.containers.Get(req.ContainerId)
	if err != nil {
		return nil, err
	}
	st := containerStatus(c)
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.GetVerbose() {
		info, err := json.Marshal(containerInfo{Pid: c.Pid, SandboxID: c.PodID, Bundle: c.Bundle, CgroupsPath: c.CgroupsPath, Restored: c.Restored})
		if err != nil {
			return nil, fmt.Errorf("container %s info: %w", c.ID, err)
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// containerStatus is c as ContainerStatus reports it.
func containerStatus(c *container.Container) *runtimeapi.ContainerStatus {
	st := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    containerMetadata(c),
		State:       c.State.CRI(),
		CreatedAt:   c.CreatedAt.UnixNano(),
		Image:       &runtimeapi.ImageSpec{Image: c.Image},
		ImageRef:    c.ImageRef,
		ImageId:     c.ImageID,
		Reason:      c.Reason,
		Message:     c.Message,
		Labels:      c.Labels,
		Annotations: c.Annotations,
		LogPath:     c.LogPath,
		User:        c.User.CRI(),
	}
	if !c.StartedAt.IsZero() {
		st.StartedAt = c.StartedAt.UnixNano()
	}
	if c.State == container.StateExited {
		st.FinishedAt = c.FinishedAt.UnixNano()
		st.ExitCode = c.ExitCode
	}
	for _, m := range c.Mounts {
		st.Mounts = append(st.Mounts, m.CRI())
	}
	if c.Resources != nil {
		st.Resources = &runtimeapi.ContainerResources{Linux: c.Resources.CRI()}
	}
	if sig, ok := runtimeapi.Signal_value["SIGNAL_"+c.StopSignal]; ok {
		st.StopSignal = runtimeapi.Signal(sig)
	}
	return st
}

// containerInfo is the verbose part of ContainerStatus.
type containerInfo struct {
	Pid         int    `json:"pid"`
	SandboxID   string `json:"sandboxID"`
	Bundle      string `json:"bundle"`
	CgroupsPath string `json:"cgroupsPath"`
	// Restored names the checkpoint the container was restored from.
	Restored *container.Restored `json:"restored,omitempty"`
}
