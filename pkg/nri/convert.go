package nri

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// maxSpecSize bounds the bundle config.json read to describe a container:
// crisp wrote it, but a bundle directory is only as safe as its host.
const maxSpecSize = 16 << 20

// podToNRI describes sb to plugins.
func podToNRI(sb *sandbox.Sandbox) *api.PodSandbox {
	md := sb.Spec.Metadata
	p := &api.PodSandbox{
		Id:             sb.ID,
		Name:           md.Name,
		Uid:            md.UID,
		Namespace:      md.Namespace,
		Labels:         maps.Clone(sb.Spec.Labels),
		Annotations:    maps.Clone(sb.Spec.Annotations),
		RuntimeHandler: sb.Spec.RuntimeHandler,
		Pid:            uint32(sb.Reaper.PID),
		Linux: &api.LinuxPodSandbox{
			CgroupParent: sb.Spec.CgroupParent,
			CgroupsPath:  sb.Cgroup,
		},
	}
	for _, k := range []sandbox.NamespaceKind{sandbox.NamespaceNet, sandbox.NamespaceIPC, sandbox.NamespaceUTS, sandbox.NamespacePID} {
		if path, ok := sb.Namespaces[k]; ok {
			p.Linux.Namespaces = append(p.Linux.Namespaces, &api.LinuxNamespace{Type: nsType(k), Path: path})
		}
	}
	for _, ip := range sb.IPs {
		p.Ips = append(p.Ips, ip.String())
	}
	return p
}

// nsType is the OCI name of a pod namespace kind.
func nsType(k sandbox.NamespaceKind) string {
	switch k {
	case sandbox.NamespaceNet:
		return string(specs.NetworkNamespace)
	case sandbox.NamespaceIPC:
		return string(specs.IPCNamespace)
	case sandbox.NamespaceUTS:
		return string(specs.UTSNamespace)
	case sandbox.NamespacePID:
		return string(specs.PIDNamespace)
	}
	return string(k)
}

// containerToNRI describes c, made or to be made from s (nil: its bundle's
// spec, if it can be read), to plugins.
func containerToNRI(c *container.Container, s *specs.Spec) *api.Container {
	if s == nil {
		s, _ = readSpec(c.Bundle)
	}
	out := &api.Container{
		Id:            c.ID,
		PodSandboxId:  c.PodID,
		Name:          c.Metadata.Name,
		State:         stateToNRI(c.State),
		Labels:        maps.Clone(c.Labels),
		Annotations:   maps.Clone(c.Annotations),
		Pid:           uint32(c.Pid),
		CreatedAt:     c.CreatedAt.UnixNano(),
		ExitCode:      c.ExitCode,
		StatusReason:  c.Reason,
		StatusMessage: c.Message,
		Image:         &api.Image{Name: c.Image},
	}
	if !c.StartedAt.IsZero() {
		out.StartedAt = c.StartedAt.UnixNano()
	}
	if !c.FinishedAt.IsZero() {
		out.FinishedAt = c.FinishedAt.UnixNano()
	}
	if u := c.User; u != nil {
		out.User = &api.User{Uid: uint32(u.UID), Gid: uint32(u.GID)}
		for _, g := range u.SupplementalGroups {
			out.User.AdditionalGids = append(out.User.AdditionalGids, uint32(g))
		}
	}
	if s == nil {
		out.Linux = &api.LinuxContainer{CgroupsPath: c.CgroupsPath}
		return out
	}
	// The record's annotations are kubelet's; the spec's include what
	// plugins added.
	if len(s.Annotations) > 0 {
		out.Annotations = maps.Clone(s.Annotations)
	}
	if p := s.Process; p != nil {
		out.Args = append([]string(nil), p.Args...)
		out.Env = append([]string(nil), p.Env...)
		for _, rl := range p.Rlimits {
			out.Rlimits = append(out.Rlimits, &api.POSIXRlimit{Type: rl.Type, Hard: rl.Hard, Soft: rl.Soft})
		}
	}
	out.Mounts = api.FromOCIMounts(s.Mounts)
	out.Hooks = api.FromOCIHooks(s.Hooks)
	if l := s.Linux; l != nil {
		out.Linux = &api.LinuxContainer{
			Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
			Devices:     api.FromOCILinuxDevices(l.Devices),
			Resources:   api.FromOCILinuxResources(l.Resources, s.Annotations),
			CgroupsPath: l.CgroupsPath,
			Sysctl:      maps.Clone(l.Sysctl),
		}
		if s.Process != nil && s.Process.OOMScoreAdj != nil {
			out.Linux.OomScoreAdj = api.Int(*s.Process.OOMScoreAdj)
		}
		if l.Seccomp != nil {
			out.Linux.SeccompPolicy = api.FromOCILinuxSeccomp(l.Seccomp)
		}
	}
	return out
}

// stateToNRI is the NRI state of a container in state s.
func stateToNRI(s container.State) api.ContainerState {
	switch s {
	case container.StateCreated:
		return api.ContainerState_CONTAINER_CREATED
	case container.StateRunning:
		return api.ContainerState_CONTAINER_RUNNING
	case container.StateExited:
		return api.ContainerState_CONTAINER_STOPPED
	}
	return api.ContainerState_CONTAINER_UNKNOWN
}

// readSpec reads the OCI spec of the bundle dir.
func readSpec(dir string) (*specs.Spec, error) {
	f, err := os.Open(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSpecSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSpecSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), maxSpecSize)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return &s, nil
}
