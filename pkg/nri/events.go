package nri

import (
	"context"
	"fmt"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// RunPodSandbox is sandbox.NRI's.
func (n *NRI) RunPodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	return n.adaptation.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: podToNRI(sb)})
}

// StopPodSandbox is sandbox.NRI's.
func (n *NRI) StopPodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	return n.adaptation.StopPodSandbox(ctx, &api.StopPodSandboxRequest{Pod: podToNRI(sb)})
}

// RemovePodSandbox is sandbox.NRI's.
func (n *NRI) RemovePodSandbox(ctx context.Context, sb *sandbox.Sandbox) error {
	return n.adaptation.RemovePodSandbox(ctx, &api.RemovePodSandboxRequest{Pod: podToNRI(sb)})
}

// CreateContainer is container.NRI's: the plugins' adjustments are applied
// to s, and the updates they ask for other containers applied to those.
// Evictions are refused: crisp does not stop a container for a plugin.
func (n *NRI) CreateContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container, s *specs.Spec) error {
	rpl, err := n.adaptation.CreateContainer(ctx, &api.CreateContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, s)})
	if err != nil {
		return err
	}
	if len(rpl.GetEvict()) > 0 {
		return unsupported("evict")
	}
	_, containers := n.sources()
	inject := func(s *specs.Spec, devices []string) error {
		if containers == nil {
			return unsupported("CDI_devices")
		}
		return containers.InjectCDIDevices(s, devices)
	}
	if err := applyAdjustment(s, rpl.GetAdjust(), inject); err != nil {
		return err
	}
	if failed := n.apply(ctx, rpl.GetUpdate(), c.ID); len(failed) > 0 {
		return fmt.Errorf("updates plugins asked for failed for containers %v", failed)
	}
	return nil
}

// PostCreateContainer is container.NRI's.
func (n *NRI) PostCreateContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	return n.adaptation.PostCreateContainer(ctx, &api.PostCreateContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
}

// StartContainer is container.NRI's.
func (n *NRI) StartContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	return n.adaptation.StartContainer(ctx, &api.StartContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
}

// PostStartContainer is container.NRI's.
func (n *NRI) PostStartContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	return n.adaptation.PostStartContainer(ctx, &api.PostStartContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
}

// UpdateContainer is container.NRI's: it returns res as the plugins
// adjusted it, and applies the updates they ask for other containers.
func (n *NRI) UpdateContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container, res *specs.LinuxResources) (*specs.LinuxResources, error) {
	rpl, err := n.adaptation.UpdateContainer(ctx, &api.UpdateContainerRequest{
		Pod: podToNRI(pod), Container: containerToNRI(c, nil), LinuxResources: api.FromOCILinuxResources(res, nil),
	})
	if err != nil {
		return nil, err
	}
	if len(rpl.GetEvict()) > 0 {
		return nil, unsupported("evict")
	}
	out := res
	for _, u := range rpl.GetUpdate() {
		if u.GetContainerId() != c.ID || u.GetLinux().GetResources() == nil {
			continue
		}
		r := u.GetLinux().GetResources()
		if err := checkAdjustment(&api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Resources: r}}); err != nil {
			return nil, err
		}
		out = r.ToOCI()
	}
	if failed := n.apply(ctx, rpl.GetUpdate(), c.ID); len(failed) > 0 {
		return nil, fmt.Errorf("updates plugins asked for failed for containers %v", failed)
	}
	return out, nil
}

// PostUpdateContainer is container.NRI's.
func (n *NRI) PostUpdateContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	return n.adaptation.PostUpdateContainer(ctx, &api.PostUpdateContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
}

// StopContainer is container.NRI's; the updates plugins ask for as it
// stops are applied to the other containers.
func (n *NRI) StopContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	rpl, err := n.adaptation.StopContainer(ctx, &api.StopContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
	if err != nil {
		return err
	}
	// Applied apart: the caller holds the stopped container's lock, and
	// an update may be for a container whose own operation waits on NRI.
	if updates := rpl.GetUpdate(); len(updates) > 0 {
		go func() {
			// apply logs each failure.
			n.apply(context.WithoutCancel(ctx), updates, c.ID)
		}()
	}
	return nil
}

// RemoveContainer is container.NRI's.
func (n *NRI) RemoveContainer(ctx context.Context, pod *sandbox.Sandbox, c *container.Container) error {
	return n.adaptation.RemoveContainer(ctx, &api.RemoveContainerRequest{Pod: podToNRI(pod), Container: containerToNRI(c, nil)})
}

var (
	_ sandbox.NRI   = (*NRI)(nil)
	_ container.NRI = (*NRI)(nil)
)
