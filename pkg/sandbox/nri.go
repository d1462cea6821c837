package sandbox

import (
	"context"

	"k8s.io/klog/v2"
)

// NRI tells Node Resource Interface plugins of pods' lifecycle events;
// pkg/nri provides it. Without one (Options.NRI nil) no plugin is told.
type NRI interface {
	// BlockSync keeps plugins that connect from synchronising until
	// unblock is called: a pod being made is then either in a plugin's
	// synchronisation or told to it as an event, never lost between.
	BlockSync() (unblock func())
	// RunPodSandbox is told of a pod whose parts are made, before it is
	// published; an error fails the pod.
	RunPodSandbox(ctx context.Context, sb *Sandbox) error
	// StopPodSandbox is told of a ready pod being stopped, after its
	// containers stopped and before its network is detached.
	StopPodSandbox(ctx context.Context, sb *Sandbox) error
	// RemovePodSandbox is told of a pod that is removed.
	RemovePodSandbox(ctx context.Context, sb *Sandbox) error
}

// nriBlockSync holds off plugin synchronisation, if NRI is on.
func (m *Manager) nriBlockSync() func() {
	if m.opts.NRI == nil {
		return func() {}
	}
	return m.opts.NRI.BlockSync()
}

// nriStopped tells plugins the ready pod sb is stopping. Plugins cannot
// keep a pod running: a failure is logged, as containerd does.
func (m *Manager) nriStopped(ctx context.Context, sb *Sandbox) {
	if m.opts.NRI == nil {
		return
	}
	if err := m.opts.NRI.StopPodSandbox(ctx, sb); err != nil {
		klog.ErrorS(err, "NRI StopPodSandbox", "pod", sb.ID)
	}
}

// nriRemoved tells plugins the pod sb is gone.
func (m *Manager) nriRemoved(ctx context.Context, sb *Sandbox) {
	if m.opts.NRI == nil {
		return
	}
	if err := m.opts.NRI.RemovePodSandbox(ctx, sb); err != nil {
		klog.ErrorS(err, "NRI RemovePodSandbox", "pod", sb.ID)
	}
}
