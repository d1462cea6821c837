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
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/apparmor"
	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/config"
	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/cri"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/network"
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
	missing, err := cgroups.ParseMissingPolicy(cfg.Cgroup.MissingController)
	if err != nil {
		return err
	}
	hierarchy, err := cgroups.OpenHierarchy(cfg.Cgroup.Mount, missing)
	if err != nil {
		return err
	}
	sandboxes, err := sandbox.NewManager(ctx, sandbox.Options{
		StateDir:     cfg.State,
		Store:        meta,
		Network:      netm,
		Cgroups:      hierarchy,
		CgroupDriver: cfg.EffectiveCgroupDriver(),
	})
	if err != nil {
		return fmt.Errorf("pod sandboxes: %w", err)
	}
	images, err := image.Open(ctx, image.OptionsFromConfig(cfg))
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
	})
	if err != nil {
		return err
	}
	defer executor.Close()
	containers, err := container.NewManager(ctx, container.Options{
		StateDir:         cfg.State,
		Store:            meta,
		Runtime:          executor,
		Images:           images,
		Pods:             sandboxes,
		Cgroups:          hierarchy,
		CgroupDriver:     cfg.EffectiveCgroupDriver(),
		DefaultPidsLimit: cfg.Cgroup.DefaultPidsLimit,
		AppArmor:         apparmor.NewHost(),
	})
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	// Closing stops watching for exits; the containers keep running.
	defer containers.Close()
	sandboxes.SetContainerStopper(containers)
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

	srv := grpc.NewServer(cri.ServerOptions()...)
	runtimeapi.RegisterRuntimeServiceServer(srv, cri.NewRuntimeService(cfg, cri.RuntimeDeps{
		Network: netm, Sandboxes: sandboxes, Containers: containers, Cgroups: hierarchy, Streams: streams,
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
