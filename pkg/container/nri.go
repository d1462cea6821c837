package container

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// NRI tells Node Resource Interface plugins of containers' lifecycle
// events and applies what they ask for; pkg/nri provides it. Without one
// (Options.NRI nil) no plugin is told.
type NRI interface {
	// BlockSync keeps plugins that connect from synchronising until
	// unblock is called: a container being made is then either in a
	// plugin's synchronisation or told to it as an event, never lost
	// between.
	BlockSync() (unblock func())
	// CreateContainer is told of container c about to be made in pod
	// from spec s, and applies the plugins' adjustments to s. An error
	// (a plugin's, or an adjustment crisp cannot apply) fails the
	// container.
	CreateContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container, s *specs.Spec) error
	// PostCreateContainer is told of a container that was made.
	PostCreateContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
	// StartContainer is told of a container whose process is about to
	// be let run; an error keeps it from running.
	StartContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
	// PostStartContainer is told of a container whose process runs.
	PostStartContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
	// UpdateContainer is told of new resources for c and returns them
	// as the plugins adjusted them.
	UpdateContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container, res *specs.LinuxResources) (*specs.LinuxResources, error)
	// PostUpdateContainer is told of resources applied to c.
	PostUpdateContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
	// StopContainer is told of a container that exited, whether stopped
	// or on its own.
	StopContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
	// RemoveContainer is told of a container that is removed.
	RemoveContainer(ctx context.Context, pod *sandbox.Sandbox, c *Container) error
}

// nriBlockSync holds off plugin synchronisation, if NRI is on.
func (m *Manager) nriBlockSync() func() {
	if m.opts.NRI == nil {
		return func() {}
	}
	return m.opts.NRI.BlockSync()
}

// nriPod is the pod plugins are told container c is in: its record, or
// only its id once it is gone.
func (m *Manager) nriPod(c *Container) *sandbox.Sandbox {
	pod, err := m.opts.Pods.Get(c.PodID)
	if err != nil {
		return &sandbox.Sandbox{ID: c.PodID}
	}
	return pod
}

// nriNotify tells plugins of an event that cannot be undone; a plugin's
// failure is logged, as containerd does.
func (m *Manager) nriNotify(ctx context.Context, event string, c *Container,
	call func(NRI, context.Context, *sandbox.Sandbox, *Container) error) {
	if m.opts.NRI == nil {
		return
	}
	if err := call(m.opts.NRI, ctx, m.nriPod(c), clone(c)); err != nil {
		klog.ErrorS(err, "NRI "+event, "container", c.ID)
	}
}

// nriStart tells plugins c's process is about to run.
func (m *Manager) nriStart(ctx context.Context, c *Container) error {
	if m.opts.NRI == nil {
		return nil
	}
	if err := m.opts.NRI.StartContainer(ctx, m.nriPod(c), clone(c)); err != nil {
		return fmt.Errorf("NRI StartContainer: %w", err)
	}
	return nil
}

// nriUpdate returns res as plugins adjust it for c; res itself without NRI.
func (m *Manager) nriUpdate(ctx context.Context, c *Container, res *specs.LinuxResources) (*specs.LinuxResources, error) {
	if m.opts.NRI == nil {
		return res, nil
	}
	out, err := m.opts.NRI.UpdateContainer(ctx, m.nriPod(c), clone(c), res)
	if err != nil {
		return nil, fmt.Errorf("NRI UpdateContainer: %w", err)
	}
	return out, nil
}
