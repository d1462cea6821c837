// Package daemon owns the crisp daemon's process lifecycle: the state lock
// that keeps one daemon per state directory, the CRI socket, the gRPC server
// and its graceful stop. It wires the services of pkg/cri to the packages that
// implement them. Stopping the daemon never stops containers.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/cri"
	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/metrics"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/nri"
	"github.com/crisp-runtime/crisp/pkg/oci"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
	"github.com/crisp-runtime/crisp/pkg/store"
	"github.com/crisp-runtime/crisp/pkg/streaming"
	"github.com/crisp-runtime/crisp/pkg/version"
)

// Run serves CRI until ctx is cancelled, then stops gracefully: in-flight
// calls get cfg.GRPC.ShutdownTimeout to finish before the server stops hard.
func Run(ctx context.Context, cfg *config.Config) error {
	socket, err := cfg.SocketPath()
	if err != nil {
		return err
	}
	// Root's data is root's alone. The state directory holds the CRI
	// socket by default: the socket's group must traverse it, no one list
	// it. An existing directory keeps its mode: an operator may share it.
	for dir, mode := range map[string]os.FileMode{cfg.Root: 0o700, cfg.State: 0o711} {
		if err := os.MkdirAll(dir, mode); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	lock, err := lockFile(cfg.LockPath())
	if err != nil {
		return err
	}
	defer lock.Close()

	meta, err := store.Open(filepath.Join(cfg.Root, "crisp.db"))
	if err != nil {
		return err
	}
	defer meta.Close()
	netm := network.NewManager(cfg.CNI.ConfDir, cfg.CNI.BinDirs, filepath.Join(cfg.Root, "cni"))
	netm.SkipIdlePlugins(cfg.CNI.SkipIdlePlugins)
	netm.SetPluginProcess(network.PluginProcess{GOMAXPROCS: cfg.CNI.PluginGOMAXPROCS, TimerSlack: cfg.CNI.PluginTimerSlack.Duration})
	// The Prometheus endpoint is off unless an address is configured; then
	// one registry collects from the gRPC server and the managers.
	var prom *metrics.Metrics
	if cfg.Metrics.Address != "" {
		prom = metrics.New()
		netm.SetObserver(prom)
	}
	missing, err := cgroups.ParseMissingPolicy(cfg.Cgroup.MissingController)
	if err != nil {
		return err
	}
	hierarchy, err := cgroups.OpenHierarchy(cfg.Cgroup.Mount, missing)
	if err != nil {
		return err
	}
	// NRI is off unless enabled; then plugins see every pod and container
	// from the managers' first event on.
	var plugins *nri.NRI
	if cfg.NRI.Enable {
		plugins, err = nri.New(nri.Options{
			SocketPath:          cfg.NRI.SocketPath,
			PluginPath:          cfg.NRI.PluginPath,
			PluginConfigPath:    cfg.NRI.PluginConfigPath,
			RegistrationTimeout: cfg.NRI.RegistrationTimeout.Duration,
			RequestTimeout:      cfg.NRI.RequestTimeout.Duration,
		})
		if err != nil {
			return err
		}
	}
	sandboxOpts := sandbox.Options{
		StateDir:     cfg.State,
		Store:        meta,
		Network:      netm,
		Cgroups:      hierarchy,
		CgroupDriver: cfg.EffectiveCgroupDriver(),
	}
	if plugins != nil {
		sandboxOpts.NRI = plugins
	}
	sandboxes, err := sandbox.NewManager(ctx, sandboxOpts)
	if err != nil {
		return fmt.Errorf("pod sandboxes: %w", err)
	}
	imageOpts := image.OptionsFromConfig(cfg)
	helper, err := image.HelperBeside()
	if err != nil {
		klog.ErrorS(err, "Image pulls will fail")
	}
	imageOpts.Copier = helper
	if prom != nil {
		imageOpts.Observer = prom
	}
	images, err := image.Open(ctx, imageOpts)
	if err != nil {
		return err
	}
	defer func() {
		if err := images.Close(); err != nil {
			klog.ErrorS(err, "Closing image storage")
		}
	}()
	executor, err := oci.New(oci.Options{
		Root:              filepath.Join(cfg.State, "oci"),
		CgroupMount:       hierarchy.Mount(),
		MissingController: missing,
		SystemdCgroup:     cfg.EffectiveCgroupDriver() == config.CgroupDriverSystemd,
		CRIU:              criupb.Codec{},
		Spare:             true,
	})
	if err != nil {
		return err
	}
	defer executor.Close()
	containerOpts := container.Options{
		StateDir:         cfg.State,
		Store:            meta,
		Runtime:          executor,
		Images:           images,
		Pods:             sandboxes,
		Cgroups:          hierarchy,
		CgroupDriver:     cfg.EffectiveCgroupDriver(),
		DefaultPidsLimit: cfg.Cgroup.DefaultPidsLimit,
		AppArmor:         apparmor.NewHost(),
		CDISpecDirs:      cfg.CDI.SpecDirs,
		CheckpointDir:    filepath.Join(cfg.Root, "checkpoints"),
	}
	if prom != nil {
		containerOpts.Observer = prom
	}
	if plugins != nil {
		containerOpts.NRI = plugins
	}
	containers, err := container.NewManager(ctx, containerOpts)
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	// Closing stops watching for exits; the containers keep running.
	defer containers.Close()
	sandboxes.SetContainerStopper(containers)
	if plugins != nil {
		if err := plugins.Start(sandboxes, containers); err != nil {
			return err
		}
		// Stopped before the managers close: no plugin is told of
		// anything after.
		defer plugins.Stop()
		klog.InfoS("Serving NRI plugins", "socket", cfg.NRI.SocketPath, "pluginPath", cfg.NRI.PluginPath)
	}
	streams, err := streaming.Start(ctx, streaming.Options{
		Address:               cfg.Stream.ListenAddress(),
		IdleTimeout:           cfg.Stream.IdleTimeout.Duration,
		StreamCreationTimeout: cfg.Stream.StreamCreationTimeout.Duration,
		Containers:            containers,
		Pods:                  sandboxes,
	})
	if err != nil {
		return err
	}
	// Closing ends the exec and port-forward sessions still running.
	defer func() {
		if err := streams.Close(); err != nil {
			klog.ErrorS(err, "Closing the streaming server")
		}
	}()
	klog.InfoS("Serving exec and port-forward sessions", "url", streams.URL())

	var serverOpts []grpc.ServerOption
	if prom != nil {
		podStates := []sandbox.State{sandbox.StateCreating, sandbox.StateReady, sandbox.StateNotReady}
		containerStates := []container.State{container.StateCreating, container.StateCreated, container.StateRunning, container.StateExited, container.StateUnknown}
		err := prom.RegisterInventory(
			func() map[string]int {
				return countStates(sandboxes.List(), podStates, func(sb *sandbox.Sandbox) sandbox.State { return sb.State })
			},
			func() map[string]int {
				return countStates(containers.List(), containerStates, func(c *container.Container) container.State { return c.State })
			},
		)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		addr, err := prom.Serve(ctx, cfg.Metrics.Address)
		if err != nil {
			return err
		}
		klog.InfoS("Serving Prometheus metrics", "url", "http://"+addr.String()+"/metrics")
		// Outermost, so the codes it counts are the ones clients see.
		serverOpts = prom.ServerOptions()
	}
	srv := grpc.NewServer(append(serverOpts, cri.ServerOptions()...)...)
	// Probed once: the image store idmaps a pod's container layers.
	userns := sync.OnceValue(func() error {
		err := images.SupportsIDMappedLayers()
		if err != nil {
			klog.InfoS("Pods cannot have user namespaces of their own on this kernel", "reason", err.Error())
		}
		return err
	})
	runtimeapi.RegisterRuntimeServiceServer(srv, cri.NewRuntimeService(cfg, cri.RuntimeDeps{
		Network: netm, Sandboxes: sandboxes, Containers: containers, Cgroups: hierarchy, Streams: streams,
		UserNamespaces: userns,
	}))
	runtimeapi.RegisterImageServiceServer(srv, cri.NewImageService(images))

	lis, err := listenUnix(socket, cfg.GRPC.SocketGroup)
	if err != nil {
		return err
	}
	defer os.Remove(socket)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	klog.InfoS("crisp is serving CRI", "version", version.Version(), "endpoint", cfg.GRPC.Address,
		"root", cfg.Root, "state", cfg.State, "cgroupDriver", cfg.EffectiveCgroupDriver())

	select {
	case err := <-served:
		return fmt.Errorf("grpc server: %w", err)
	case <-ctx.Done():
	}
	klog.InfoS("Stopping crisp: waiting for in-flight calls", "timeout", cfg.GRPC.ShutdownTimeout)
	if !gracefulStop(srv, cfg.GRPC.ShutdownTimeout.Duration) {
		klog.InfoS("In-flight calls did not finish in time; stopped hard")
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpc server: %w", err)
	}
	klog.InfoS("crisp stopped")
	return nil
}

// countStates counts items by their state; every known state is counted,
// so a gauge reads 0 rather than vanishing when nothing is in it.
func countStates[T any, S ~string](items []T, known []S, state func(T) S) map[string]int {
	out := make(map[string]int, len(known))
	for _, s := range known {
		out[string(s)] = 0
	}
	for _, it := range items {
		out[string(state(it))]++
	}
	return out
}

// gracefulStop waits up to timeout for in-flight calls, then stops hard. It
// reports whether the graceful stop finished in time.
func gracefulStop(srv *grpc.Server, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		srv.Stop()
		<-done
		return false
	}
}
