package cri

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ContainerStats reports a container's cgroup accounting and the disk use
// of its writable layer.
func (s *RuntimeService) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	c, err := s.containers.Get(req.ContainerId)
	if err != nil {
		return nil, err
	}
	st, err := s.containerStats(ctx, c)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: st}, nil
}

// ListContainerStats reports the stats of every created or running
// container matching the filter. A container that disappears meanwhile is
// left out.
func (s *RuntimeService) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return &runtimeapi.ListContainerStatsResponse{Stats: s.containerStatsList(ctx, req.GetFilter())}, nil
}

// StreamContainerStats is ListContainerStats as a stream of batches.
func (s *RuntimeService) StreamContainerStats(req *runtimeapi.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainerStatsResponse]) error {
	stats := s.containerStatsList(stream.Context(), req.GetFilter())
	for start := 0; start == 0 || start < len(stats); start += streamBatch {
		end := min(start+streamBatch, len(stats))
		if err := stream.Send(&runtimeapi.StreamContainerStatsResponse{ContainerStats: stats[start:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (s *RuntimeService) containerStatsList(ctx context.Context, f *runtimeapi.ContainerStatsFilter) []*runtimeapi.ContainerStats {
	filter := &runtimeapi.ContainerFilter{Id: f.GetId(), PodSandboxId: f.GetPodSandboxId(), LabelSelector: f.GetLabelSelector()}
	var out []*runtimeapi.ContainerStats
	for _, c := range s.containers.List() {
		if c.State != container.StateCreated && c.State != container.StateRunning || !containerMatches(c, filter) {
			continue
		}
		st, err := s.containerStats(ctx, c)
		if errors.Is(err, errdefs.ErrNotFound) {
			continue
		}
		if err != nil {
			klog.ErrorS(err, "Container stats", "container", c.ID)
			continue
		}
		out = append(out, st)
	}
	return out
}

func (s *RuntimeService) containerStats(ctx context.Context, c *container.Container) (*runtimeapi.ContainerStats, error) {
	st, err := s.containers.Stats(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	out := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{
			Id:          c.ID,
			Metadata:    containerMetadata(c),
			Labels:      c.Labels,
			Annotations: c.Annotations,
		},
		WritableLayer: &runtimeapi.FilesystemUsage{
			Timestamp:  st.WritableLayerAt.UnixNano(),
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: st.Mountpoint},
			UsedBytes:  &runtimeapi.UInt64Value{Value: st.WritableLayer.Bytes},
			InodesUsed: &runtimeapi.UInt64Value{Value: st.WritableLayer.Inodes},
		},
	}
	if cg := st.Cgroup; cg != nil {
		out.Cpu = cpuUsage(cg, st.Previous)
		out.Memory = memoryUsage(cg)
		out.Swap = swapUsage(cg)
		out.Io = ioUsage(cg)
	}
	return out, nil
}
