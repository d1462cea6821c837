package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// PodSandboxStatus reports a pod's state, network and namespaces; verbose
// adds crisp's record of the pod as JSON.
func (s *RuntimeService) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	sb, err := s.sandboxes.Get(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{
		Status:             sandboxStatus(sb),
		ContainersStatuses: s.podContainerStatuses(sb.ID),
		Timestamp:          statusTimestamp(),
	}
	if req.Verbose {
		info, err := json.Marshal(sb)
		if err != nil {
			return nil, fmt.Errorf("encode pod record: %w", err)
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

func sandboxStatus(sb *sandbox.Sandbox) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id:             sb.ID,
		Metadata:       sandboxMetadata(sb),
		State:          sandboxState(sb),
		CreatedAt:      sb.CreatedAt.UnixNano(),
		Labels:         sb.Spec.Labels,
		Annotations:    sb.Spec.Annotations,
		RuntimeHandler: sb.Spec.RuntimeHandler,
		Network:        &runtimeapi.PodSandboxNetworkStatus{},
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
			Network: criNamespaceMode(sb.Spec.NetworkMode),
			Pid:     criNamespaceMode(sb.Spec.PIDMode),
			Ipc:     criNamespaceMode(sb.Spec.IPCMode),
			// crictl inspectp shows whether the pod has a user namespace
			// of its own, and its maps.
			UsernsOptions: criUserNamespace(sb.Spec.UserNS),
		}}},
	}
	for i, ip := range sb.IPs {
		if i == 0 {
			st.Network.Ip = ip.String()
			continue
		}
		st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip.String()})
	}
	return st
}

// criUserNamespace reports a pod's user namespace as RunPodSandbox took it:
// POD with its maps, or NODE for the host's.
func criUserNamespace(u *sandbox.UserNamespace) *runtimeapi.UserNamespace {
	if u == nil {
		return &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}
	}
	maps := func(in []sandbox.IDMapping) []*runtimeapi.IDMapping {
		out := make([]*runtimeapi.IDMapping, 0, len(in))
		for _, m := range in {
			out = append(out, &runtimeapi.IDMapping{ContainerId: m.ContainerID, HostId: m.HostID, Length: m.Size})
		}
		return out
	}
	return &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: maps(u.UIDs), Gids: maps(u.GIDs)}
}

func sandboxMetadata(sb *sandbox.Sandbox) *runtimeapi.PodSandboxMetadata {
	md := sb.Spec.Metadata
	return &runtimeapi.PodSandboxMetadata{Name: md.Name, Uid: md.UID, Namespace: md.Namespace, Attempt: md.Attempt}
}

func sandboxState(sb *sandbox.Sandbox) runtimeapi.PodSandboxState {
	if sb.State == sandbox.StateReady {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

func criNamespaceMode(m sandbox.NamespaceMode) runtimeapi.NamespaceMode {
	switch m {
	case sandbox.ModeNode:
		return runtimeapi.NamespaceMode_NODE
	case sandbox.ModeContainer:
		return runtimeapi.NamespaceMode_CONTAINER
	default:
		return runtimeapi.NamespaceMode_POD
	}
}
