package nri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	api "github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
	"github.com/crisp-runtime/crisp/pkg/version"
)

// Options configure NRI.
type Options struct {
	// SocketPath is the socket external plugins connect to.
	SocketPath string
	// PluginPath holds the pre-installed plugins crisp starts;
	// PluginConfigPath their configuration.
	PluginPath, PluginConfigPath string
	// RegistrationTimeout and RequestTimeout bound how long a plugin may
	// take to register and to answer an event.
	RegistrationTimeout, RequestTimeout time.Duration
}

// Pods lists the pod sandboxes a plugin is synchronised with;
// *sandbox.Manager is one.
type Pods interface {
	List() []*sandbox.Sandbox
}

// Containers lists the containers a plugin is synchronised with and
// applies the resources plugins ask for; *container.Manager is one.
type Containers interface {
	List() []*container.Container
	UpdateLinuxResources(ctx context.Context, id string, res *specs.LinuxResources) error
	InjectCDIDevices(s *specs.Spec, devices []string) error
}

// NRI is crisp's NRI runtime: it serves plugins and implements
// sandbox.NRI and container.NRI.
type NRI struct {
	adaptation *adaptation.Adaptation
	socketPath string

	mu         sync.Mutex
	pods       Pods
	containers Containers
}

// New prepares NRI: nothing is served, nor any plugin started, until
// Start. The timeouts and the logger are the NRI library's and so the
// process's.
func New(opts Options) (*NRI, error) {
	n := &NRI{socketPath: opts.SocketPath}
	nrilog.Set(klogger{})
	adaptation.SetPluginRegistrationTimeout(opts.RegistrationTimeout)
	adaptation.SetPluginRequestTimeout(opts.RequestTimeout)
	a, err := adaptation.New("crisp", version.Version(), n.synchronize, n.update,
		adaptation.WithSocketPath(opts.SocketPath),
		adaptation.WithPluginPath(opts.PluginPath),
		adaptation.WithPluginConfigPath(opts.PluginConfigPath),
	)
	if err != nil {
		return nil, fmt.Errorf("NRI: %w", err)
	}
	n.adaptation = a
	return n, nil
}

// Start serves the socket and starts the pre-installed plugins, once the
// pods and containers plugins are synchronised with are known. A socket
// left by an earlier daemon is replaced.
func (n *NRI) Start(pods Pods, containers Containers) error {
	n.mu.Lock()
	n.pods, n.containers = pods, containers
	n.mu.Unlock()
	// The adaptation makes the socket's directory 0700.
	if err := n.adaptation.Start(); err != nil {
		return fmt.Errorf("NRI: %w", err)
	}
	// Plugins run as root: only root may connect.
	if err := os.Chmod(n.socketPath, 0o600); err != nil {
		n.adaptation.Stop()
		return fmt.Errorf("NRI socket: %w", err)
	}
	return nil
}

// Stop closes the socket and stops the plugins crisp started.
func (n *NRI) Stop() { n.adaptation.Stop() }

// sources returns what Start was given.
func (n *NRI) sources() (Pods, Containers) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pods, n.containers
}

// BlockSync is sandbox.NRI's and container.NRI's.
func (n *NRI) BlockSync() func() {
	b := n.adaptation.BlockPluginSync()
	return b.Unblock
}

// synchronize gives a plugin that connects every pod and container there
// is, and applies the updates it asks for. Pods and containers being made
// keep it from running (BlockSync) until they are published.
func (n *NRI) synchronize(ctx context.Context, cb adaptation.SyncCB) error {
	pods, containers := n.sources()
	if pods == nil || containers == nil {
		return errors.New("NRI synchronisation before start")
	}
	var nriPods []*api.PodSandbox
	for _, sb := range pods.List() {
		nriPods = append(nriPods, podToNRI(sb))
	}
	var nriContainers []*api.Container
	for _, c := range containers.List() {
		nriContainers = append(nriContainers, containerToNRI(c, nil))
	}
	updates, err := cb(ctx, nriPods, nriContainers)
	if err != nil {
		return err
	}
	if failed := n.apply(ctx, updates, ""); len(failed) > 0 {
		return fmt.Errorf("updates a synchronising plugin asked for failed for containers %v", failed)
	}
	return nil
}

// update applies the updates a plugin asks for on its own and returns
// those that failed.
func (n *NRI) update(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	var failed []*api.ContainerUpdate
	for _, u := range updates {
		if err := n.applyOne(ctx, u); err != nil {
			klog.ErrorS(err, "NRI container update", "container", u.GetContainerId())
			failed = append(failed, u)
		}
	}
	return failed, nil
}

// apply applies plugins' updates to containers other than skip. It returns
// the ids of those that failed without IgnoreFailure.
func (n *NRI) apply(ctx context.Context, updates []*api.ContainerUpdate, skip string) []string {
	var failed []string
	for _, u := range updates {
		if u.GetContainerId() == skip {
			continue
		}
		if err := n.applyOne(ctx, u); err != nil {
			if u.GetIgnoreFailure() {
				klog.V(2).InfoS("NRI container update failed; the plugin ignores it", "container", u.GetContainerId(), "err", err)
				continue
			}
			klog.ErrorS(err, "NRI container update", "container", u.GetContainerId())
			failed = append(failed, u.GetContainerId())
		}
	}
	return failed
}

// applyOne applies one plugin's update through the container manager's
// update path, after checking it as an adjustment's resources are.
func (n *NRI) applyOne(ctx context.Context, u *api.ContainerUpdate) error {
	_, containers := n.sources()
	if containers == nil {
		return fmt.Errorf("NRI update before start: %w", errdefs.ErrUnavailable)
	}
	res := u.GetLinux().GetResources()
	if res == nil {
		return nil
	}
	if err := checkAdjustment(&api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Resources: res}}); err != nil {
		return err
	}
	return containers.UpdateLinuxResources(ctx, u.GetContainerId(), res.ToOCI())
}
