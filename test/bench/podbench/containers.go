package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerName is the name of the one container podbench runs in a pod.
const containerName = "bench"

// pull pulls -image and returns the wall time of PullImage. An image the
// runtime already has is removed first (not timed), so that the pull is
// cold as far as the runtime's image list goes; a fresh runtime, as
// hack/bench.sh starts, has nothing cached at all.
func (b *bench) pull(ctx context.Context) (time.Duration, error) {
	spec := &runtimeapi.ImageSpec{Image: b.opts.image}
	var st *runtimeapi.ImageStatusResponse
	if _, err := b.call(ctx, func(c context.Context) error {
		var err error
		st, err = b.img.ImageStatus(c, &runtimeapi.ImageStatusRequest{Image: spec})
		return err
	}); err != nil {
		return 0, fmt.Errorf("ImageStatus %s: %w", b.opts.image, err)
	}
	if st.GetImage() != nil {
		if _, err := b.call(ctx, func(c context.Context) error {
			_, err := b.img.RemoveImage(c, &runtimeapi.RemoveImageRequest{Image: spec})
			return err
		}); err != nil {
			return 0, fmt.Errorf("RemoveImage %s before the pull: %w", b.opts.image, err)
		}
	}
	d, err := b.call(ctx, func(c context.Context) error {
		resp, err := b.img.PullImage(c, &runtimeapi.PullImageRequest{Image: spec})
		if err != nil {
			return err
		}
		b.imageRef = resp.ImageRef
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("PullImage %s: %w", b.opts.image, err)
	}
	if b.imageRef == "" {
		return d, fmt.Errorf("PullImage %s returned an empty image reference", b.opts.image)
	}
	return d, nil
}

// startContainer creates and starts the pod's container and checks, outside
// the timed window, that it runs. It returns the container's ID and the
// wall times of CreateContainer and StartContainer.
func (b *bench) startContainer(ctx context.Context, p *pod, name string) (id string, create, start time.Duration, err error) {
	cfg := b.containerConfig(p.config, name)
	create, err = b.call(ctx, func(c context.Context) error {
		resp, err := b.rt.CreateContainer(c, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.config})
		if err != nil {
			return err
		}
		id = resp.ContainerId
		return nil
	})
	if err != nil {
		return "", create, 0, fmt.Errorf("CreateContainer in pod %s: %w", p.id, err)
	}
	if id == "" {
		return "", create, 0, fmt.Errorf("CreateContainer in pod %s returned an empty container id", p.id)
	}
	start, err = b.call(ctx, func(c context.Context) error {
		_, err := b.rt.StartContainer(c, &runtimeapi.StartContainerRequest{ContainerId: id})
		return err
	})
	if err != nil {
		return id, create, start, fmt.Errorf("StartContainer %s: %w", id, err)
	}
	return id, create, start, b.checkContainer(ctx, id, runtimeapi.ContainerState_CONTAINER_RUNNING, "StartContainer")
}

// stopContainer stops the container with -stop-timeout, checks that it
// exited (not timed) and removes it. It returns the wall times of
// StopContainer and RemoveContainer.
func (b *bench) stopContainer(ctx context.Context, id string) (stop, remove time.Duration, err error) {
	stop, err = b.call(ctx, func(c context.Context) error {
		_, err := b.rt.StopContainer(c, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: b.opts.stopTimeout})
		return err
	})
	if err != nil {
		return stop, 0, fmt.Errorf("StopContainer %s: %w", id, err)
	}
	if err := b.checkContainer(ctx, id, runtimeapi.ContainerState_CONTAINER_EXITED, "StopContainer"); err != nil {
		return stop, 0, err
	}
	remove, err = b.call(ctx, func(c context.Context) error {
		_, err := b.rt.RemoveContainer(c, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		return err
	})
	if err != nil {
		return stop, remove, fmt.Errorf("RemoveContainer %s: %w", id, err)
	}
	return stop, remove, nil
}

// checkContainer fails unless ContainerStatus reports the container in
// state want after the call named after.
func (b *bench) checkContainer(ctx context.Context, id string, want runtimeapi.ContainerState, after string) error {
	var st *runtimeapi.ContainerStatusResponse
	if _, err := b.call(ctx, func(c context.Context) error {
		var err error
		st, err = b.rt.ContainerStatus(c, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err
	}); err != nil {
		return fmt.Errorf("ContainerStatus %s: %w", id, err)
	}
	if got := st.GetStatus().GetState(); got != want {
		return fmt.Errorf("container %s is %s after %s, want %s (reason %q, message %q, exit code %d)",
			id, got, after, want, st.GetStatus().GetReason(), st.GetStatus().GetMessage(), st.GetStatus().GetExitCode())
	}
	return nil
}

// containerConfig is the ContainerConfig kubelet sends for a plain
// BestEffort container of the pod: the image by the ID PullImage returned,
// the command, a log file in the pod's log directory, the pod's namespace
// options, and BestEffort's CPU shares and OOM score.
func (b *bench) containerConfig(podCfg *runtimeapi.PodSandboxConfig, name string) *runtimeapi.ContainerConfig {
	md := podCfg.Metadata
	var logPath string
	if podCfg.LogDirectory != "" {
		logPath = name + "/0.log"
	}
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: b.imageRef, UserSpecifiedImage: b.opts.image},
		Command:  b.opts.command[:1],
		Args:     b.opts.command[1:],
		LogPath:  logPath,
		Labels: map[string]string{
			"io.kubernetes.container.name": name,
			"io.kubernetes.pod.name":       md.Name,
			"io.kubernetes.pod.namespace":  md.Namespace,
			"io.kubernetes.pod.uid":        md.Uid,
		},
		Annotations: map[string]string{
			"io.kubernetes.container.restartCount":           "0",
			"io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
		},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: podCfg.GetLinux().GetSecurityContext().GetNamespaceOptions(),
			},
		},
	}
}

// holdPods runs -hold pods with a running container each, all at once,
// measures the runtime's memory with them into memory[memoryLoaded] (with
// -mem-pid), then stops and removes them. Nothing here is timed.
func (b *bench) holdPods(ctx context.Context, prefix string, memory map[string]memoryPoint) (err error) {
	pods := make([]*pod, 0, b.opts.hold)
	defer func() {
		if err != nil {
			for _, p := range pods {
				b.cleanup(ctx, p)
			}
		}
	}()
	for i := range b.opts.hold {
		p, _, err := b.runPod(ctx, fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			return fmt.Errorf("held pod %d: %w", i, err)
		}
		pods = append(pods, p)
		if _, _, _, err := b.startContainer(ctx, p, containerName); err != nil {
			return fmt.Errorf("held pod %d: %w", i, err)
		}
	}
	if b.opts.memory.Enabled() {
		if memory[memoryLoaded], err = b.measureMemory(ctx, len(pods)); err != nil {
			return err
		}
	}
	held := pods
	pods = nil // from here each pod is cleaned up on its own
	var errs []error
	for _, p := range held {
		if _, _, err := b.stopPod(ctx, p); err != nil {
			errs = append(errs, err)
			b.cleanup(ctx, p)
		}
	}
	return errors.Join(errs...)
}

// measureMemory waits -settle, then measures the runtime's memory with pods
// pods running.
func (b *bench) measureMemory(ctx context.Context, pods int) (memoryPoint, error) {
	select {
	case <-ctx.Done():
		return memoryPoint{}, ctx.Err()
	case <-time.After(b.opts.settle):
	}
	m, err := measureMemory(b.opts.memory, pods)
	if err != nil {
		return m, fmt.Errorf("measure memory with %d pods: %w", pods, err)
	}
	return m, nil
}
