package cri

import (
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StreamPodSandboxMetrics is ListPodSandboxMetrics as a stream: pods are
// sampled one at a time and sent in batches of streamBatch, so a node with
// many pods holds one batch in memory, not every pod's metrics. No pods
// sends nothing; a client that goes away ends the sampling.
func (s *RuntimeService) StreamPodSandboxMetrics(req *runtimeapi.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxMetricsResponse]) error {
	var batch []*runtimeapi.PodSandboxMetrics
	send := func() error {
		err := stream.Send(&runtimeapi.StreamPodSandboxMetricsResponse{PodSandboxMetrics: batch})
		batch = nil
		return err
	}
	err := s.eachPodMetrics(stream.Context(), func(pm *runtimeapi.PodSandboxMetrics) error {
		batch = append(batch, pm)
		if len(batch) == streamBatch {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}
