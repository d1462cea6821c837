package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// RunPodSandbox creates a pause-less pod: pinned namespaces, pod cgroup,
// network, DNS and hosts files.
func (s *RuntimeService) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	spec, err := sandboxSpec(req.GetConfig(), req.GetRuntimeHandler())
	if err != nil {
		return nil, err
	}
	if spec.UserNS != nil {
		if err := s.userNamespaces(); err != nil {
			return nil, fmt.Errorf("config.linux.security_context.namespace_options.userns_options: this node cannot give a pod its own user namespace: %w: %w",
				err, errdefs.ErrNotImplemented)
		}
	}
	sb, err := s.sandboxes.Run(ctx, spec)
	if err != nil {
		return nil, inField("config", err)
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}

// sandboxSpec validates a PodSandboxConfig and translates it.
func sandboxSpec(cfg *runtimeapi.PodSandboxConfig, handler string) (sandbox.Spec, error) {
	if err := validatePodConfig(cfg, handler); err != nil {
		return sandbox.Spec{}, err
	}
	md := cfg.GetMetadata()
	spec := sandbox.Spec{
		Metadata:       sandbox.Metadata{Name: md.Name, UID: md.Uid, Namespace: md.Namespace, Attempt: md.Attempt},
		Hostname:       cfg.GetHostname(),
		LogDirectory:   cfg.GetLogDirectory(),
		Labels:         cfg.GetLabels(),
		Annotations:    cfg.GetAnnotations(),
		RuntimeHandler: handler,
		CgroupParent:   cfg.GetLinux().GetCgroupParent(),
		Sysctls:        cfg.GetLinux().GetSysctls(),
		Privileged:     cfg.GetLinux().GetSecurityContext().GetPrivileged(),
	}
	if dns := cfg.GetDnsConfig(); dns != nil {
		spec.DNS = &network.DNS{Servers: dns.Servers, Searches: dns.Searches, Options: dns.Options}
	}
	for _, pm := range cfg.GetPortMappings() {
		spec.PortMappings = append(spec.PortMappings, network.PortMapping{
			Protocol:      pm.Protocol.String(),
			ContainerPort: pm.ContainerPort,
			HostPort:      pm.HostPort,
			HostIP:        pm.HostIp,
		})
	}
	bw, err := sandboxBandwidth(cfg.GetAnnotations())
	if err != nil {
		return sandbox.Spec{}, err
	}
	spec.Bandwidth = bw
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if spec.NetworkMode, err = podNamespaceMode("network", ns.GetNetwork(), false); err != nil {
		return sandbox.Spec{}, err
	}
	if spec.IPCMode, err = podNamespaceMode("ipc", ns.GetIpc(), false); err != nil {
		return sandbox.Spec{}, err
	}
	if spec.PIDMode, err = podNamespaceMode("pid", ns.GetPid(), true); err != nil {
		return sandbox.Spec{}, err
	}
	if err := sandbox.ValidateSysctls(&spec); err != nil {
		return sandbox.Spec{}, inField("config", err)
	}
	// A pause-less pod runs no process of its own, but the CRI still
	// requires this error.
	if sc := cfg.GetLinux().GetSecurityContext(); sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil {
		return sandbox.Spec{}, errdefs.InvalidField("config.linux.security_context.run_as_group", "needs run_as_user")
	}
	if spec.UserNS, err = podUserNamespace(ns.GetUsernsOptions()); err != nil {
		return sandbox.Spec{}, err
	}
	if err := sandbox.ValidateUserNamespace(&spec); err != nil {
		return sandbox.Spec{}, inField("config", err)
	}
	return spec, nil
}

// podUserNamespace translates userns_options: NODE (or none) is the host's
// user namespace, POD one of the pod's own with kubelet's maps; a
// per-container user namespace is not a thing the CRI defines for a pod.
// The maps themselves are checked by the sandbox (ValidateUserNamespace).
func podUserNamespace(u *runtimeapi.UserNamespace) (*sandbox.UserNamespace, error) {
	const field = "config.linux.security_context.namespace_options.userns_options"
	if u == nil {
		return nil, nil
	}
	// Bounded before copying; the sandbox checks the kernel's own limit.
	const maxMappings = 1024
	if len(u.GetUids()) > maxMappings {
		return nil, errdefs.InvalidField(field+".uids", fmt.Sprintf("more than %d mappings", maxMappings))
	}
	if len(u.GetGids()) > maxMappings {
		return nil, errdefs.InvalidField(field+".gids", fmt.Sprintf("more than %d mappings", maxMappings))
	}
	switch u.GetMode() {
	case runtimeapi.NamespaceMode_NODE:
		if len(u.GetUids())+len(u.GetGids()) > 0 {
			return nil, errdefs.InvalidField(field+".uids", "mode NODE takes no mappings: it is the host's user namespace")
		}
		return nil, nil
	case runtimeapi.NamespaceMode_POD:
	default:
		return nil, errdefs.InvalidField(field+".mode", fmt.Sprintf("mode %s is not valid for a pod's user namespace", u.GetMode()))
	}
	maps := func(in []*runtimeapi.IDMapping, f string) ([]sandbox.IDMapping, error) {
		out := make([]sandbox.IDMapping, 0, len(in))
		for i, m := range in {
			if m == nil {
				return nil, errdefs.InvalidField(fmt.Sprintf("%s.%s[%d]", field, f, i), "must be set")
			}
			out = append(out, sandbox.IDMapping{ContainerID: m.ContainerId, HostID: m.HostId, Size: m.Length})
		}
		return out, nil
	}
	uids, err := maps(u.GetUids(), "uids")
	if err != nil {
		return nil, err
	}
	gids, err := maps(u.GetGids(), "gids")
	if err != nil {
		return nil, err
	}
	return &sandbox.UserNamespace{UIDs: uids, GIDs: gids}, nil
}

// podNamespaceMode maps a CRI NamespaceMode for a pod. Only PID may be
// per-container; TARGET makes no sense for a pod.
func podNamespaceMode(kind string, mode runtimeapi.NamespaceMode, perContainer bool) (sandbox.NamespaceMode, error) {
	switch mode {
	case runtimeapi.NamespaceMode_POD:
		return sandbox.ModePod, nil
	case runtimeapi.NamespaceMode_NODE:
		return sandbox.ModeNode, nil
	case runtimeapi.NamespaceMode_CONTAINER:
		if perContainer {
			return sandbox.ModeContainer, nil
		}
	}
	return "", errdefs.InvalidField("config.linux.security_context.namespace_options."+kind,
		fmt.Sprintf("mode %s is not valid for a pod", mode))
}
