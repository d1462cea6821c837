package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/network"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// PodSandboxStats reports a pod's cgroup accounting and network counters.
func (s *RuntimeService) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	sb, err := s.sandboxes.Get(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	st, err := s.podStats(ctx, sb, s.liveContainersByPod()[sb.ID])
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats reports the stats of every pod matching the filter.
// A pod that disappears meanwhile is left out.
func (s *RuntimeService) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	stats, err := s.podStatsList(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: stats}, nil
}

// StreamPodSandboxStats is ListPodSandboxStats as a stream of batches.
func (s *RuntimeService) StreamPodSandboxStats(req *runtimeapi.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxStatsResponse]) error {
	stats, err := s.podStatsList(stream.Context(), req.GetFilter())
	if err != nil {
		return err
	}
	for start := 0; start == 0 || start < len(stats); start += streamBatch {
		end := min(start+streamBatch, len(stats))
		if err := stream.Send(&runtimeapi.StreamPodSandboxStatsResponse{PodSandboxStats: stats[start:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (s *RuntimeService) podStatsList(ctx context.Context, f *runtimeapi.PodSandboxStatsFilter) ([]*runtimeapi.PodSandboxStats, error) {
	var out []*runtimeapi.PodSandboxStats
	byPod := s.liveContainersByPod()
	for _, sb := range s.sandboxes.List() {
		if !sandboxMatches(sb, &runtimeapi.PodSandboxFilter{Id: f.GetId(), LabelSelector: f.GetLabelSelector()}) {
			continue
		}
		st, err := s.podStats(ctx, sb, byPod[sb.ID])
		if errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if err != nil {
			klog.ErrorS(err, "Pod stats", "pod", sb.ID)
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// liveContainersByPod maps pod ids to their created and running
// containers: those with a cgroup to sample.
func (s *RuntimeService) liveContainersByPod() map[string][]*container.Container {
	byPod := map[string][]*container.Container{}
	for _, c := range s.containers.List() {
		if c.State == container.StateCreated || c.State == container.StateRunning {
			byPod[c.PodID] = append(byPod[c.PodID], c)
		}
	}
	return byPod
}

// podStats samples the pod and its created or running containers, ctrs:
// kubelet's PodAndContainerStatsFromCRI reads the containers' stats from
// the pod's. A container that disappears meanwhile is left out.
func (s *RuntimeService) podStats(ctx context.Context, sb *sandbox.Sandbox, ctrs []*container.Container) (*runtimeapi.PodSandboxStats, error) {
	st, err := s.sandboxes.Stats(sb.ID)
	if err != nil {
		return nil, err
	}
	cg := st.Cgroup
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu:     cpuUsage(cg, st.Previous),
		Memory:  memoryUsage(cg),
		Process: processUsage(cg),
		Io:      ioUsage(cg),
	}
	if len(st.Interfaces) > 0 {
		linux.Network = networkUsage(cg.Timestamp.UnixNano(), st.Interfaces)
	}
	for _, c := range ctrs {
		cs, err := s.containerStats(ctx, c)
		if errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if err != nil {
			klog.ErrorS(err, "Container stats", "container", c.ID)
			continue
		}
		linux.Containers = append(linux.Containers, cs)
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id:          sb.ID,
			Metadata:    sandboxMetadata(sb),
			Labels:      sb.Spec.Labels,
			Annotations: sb.Spec.Annotations,
		},
		Linux: linux,
	}, nil
}

func networkUsage(ts int64, ifaces []network.InterfaceStats) *runtimeapi.NetworkUsage {
	u := &runtimeapi.NetworkUsage{Timestamp: ts}
	for _, i := range ifaces {
		iu := &runtimeapi.NetworkInterfaceUsage{
			Name:     i.Name,
			RxBytes:  &runtimeapi.UInt64Value{Value: i.RxBytes},
			RxErrors: &runtimeapi.UInt64Value{Value: i.RxErrors},
			TxBytes:  &runtimeapi.UInt64Value{Value: i.TxBytes},
			TxErrors: &runtimeapi.UInt64Value{Value: i.TxErrors},
		}
		u.Interfaces = append(u.Interfaces, iu)
		if i.Name == network.DefaultInterface {
			u.DefaultInterface = iu
		}
	}
	return u
}
