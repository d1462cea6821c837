package cri

import (
	"context"
	"errors"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/image"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// ListPodSandboxMetrics reports, for every pod whose cgroup exists, the
// cAdvisor-named metrics of the pod's cgroup and network namespace and of
// each of its created or running containers. A pod or container that
// disappears meanwhile is left out.
func (s *RuntimeService) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	var out []*runtimeapi.PodSandboxMetrics
	err := s.eachPodMetrics(ctx, func(pm *runtimeapi.PodSandboxMetrics) error {
		out = append(out, pm)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}

// eachPodMetrics builds the metrics of one pod at a time and hands them to
// fn, stopping at fn's first error or when ctx ends.
func (s *RuntimeService) eachPodMetrics(ctx context.Context, fn func(*runtimeapi.PodSandboxMetrics) error) error {
	byPod := s.liveContainersByPod()
	// One file system holds every writable layer: read its size once.
	fs, err := s.containers.Filesystem()
	if err != nil {
		return fmt.Errorf("the containers' file system: %w", err)
	}
	for _, sb := range s.sandboxes.List() {
		if err := ctx.Err(); err != nil {
			return err
		}
		pm, err := s.podMetrics(ctx, sb, byPod[sb.ID], &fs)
		if errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if err != nil {
			klog.ErrorS(err, "Pod metrics", "pod", sb.ID)
			continue
		}
		if err := fn(pm); err != nil {
			return err
		}
	}
	return nil
}

// podMetrics samples a pod's cgroup, processes and interfaces, then each of
// its containers.
func (s *RuntimeService) podMetrics(ctx context.Context, sb *sandbox.Sandbox, ctrs []*container.Container, fs *image.Capacity) (*runtimeapi.PodSandboxMetrics, error) {
	st, err := s.sandboxes.Stats(sb.ID)
	if err != nil {
		return nil, err
	}
	md := sb.Spec.Metadata
	pod := &metricSample{
		labels:  []string{"", st.CgroupName, "", sb.ID, md.Namespace, md.Name},
		cgroup:  st.Cgroup,
		started: sb.CreatedAt,
		ifaces:  st.Interfaces,
	}
	if pod.procs, err = s.sandboxes.ProcessStats(sb.ID); err != nil {
		return nil, err
	}
	out := &runtimeapi.PodSandboxMetrics{PodSandboxId: sb.ID, Metrics: pod.metrics()}
	for _, c := range ctrs {
		cm, err := s.containerMetrics(ctx, c, md, fs)
		if errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if err != nil {
			klog.ErrorS(err, "Container metrics", "container", c.ID)
			continue
		}
		out.ContainerMetrics = append(out.ContainerMetrics, cm)
	}
	return out, nil
}

func (s *RuntimeService) containerMetrics(ctx context.Context, c *container.Container, pod sandbox.Metadata, fs *image.Capacity) (*runtimeapi.ContainerMetrics, error) {
	st, err := s.containers.Stats(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	sample := &metricSample{
		labels:  []string{c.Metadata.Name, st.CgroupName, c.Image, c.ID, pod.Namespace, pod.Name},
		cgroup:  st.Cgroup,
		started: c.StartedAt,
		layer:   &st.WritableLayer,
		fs:      fs,
	}
	if st.Cgroup != nil {
		sample.procs, err = s.containers.ProcessStats(c.ID)
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	return &runtimeapi.ContainerMetrics{ContainerId: c.ID, Metrics: sample.metrics()}, nil
}
