package cri

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// GetContainerEvents streams the containers' lifecycle events (created,
// started, stopped, deleted) from now on, each with its pod's status and
// the statuses of the pod's containers, for kubelet's evented PLEG.
func (s *RuntimeService) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	if s.containers == nil {
		return fmt.Errorf("GetContainerEvents: no containers: %w", errdefs.ErrNotImplemented)
	}
	events := s.containers.Subscribe(stream.Context())
	// The response header tells the client the subscription is live: an
	// event of any change made after the client has the header reaches it.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for ev := range events {
		if err := stream.Send(s.containerEvent(ev)); err != nil {
			return err
		}
	}
	return stream.Context().Err()
}

func (s *RuntimeService) containerEvent(ev container.Event) *runtimeapi.ContainerEventResponse {
	resp := &runtimeapi.ContainerEventResponse{
		ContainerId:        ev.Container.ID,
		ContainerEventType: criEventType(ev.Type),
		CreatedAt:          ev.At.UnixNano(),
		ContainersStatuses: s.podContainerStatuses(ev.Container.PodID),
	}
	// A pod already removed has no status to report.
	if sb, err := s.sandboxes.Get(ev.Container.PodID); err == nil {
		resp.PodSandboxStatus = sandboxStatus(sb)
	}
	return resp
}

// podContainerStatuses are the statuses of pod podID's containers.
func (s *RuntimeService) podContainerStatuses(podID string) []*runtimeapi.ContainerStatus {
	if s.containers == nil {
		return nil
	}
	var out []*runtimeapi.ContainerStatus
	for _, c := range s.containers.PodContainers(podID) {
		if c.State != container.StateCreating {
			out = append(out, containerStatus(c))
		}
	}
	return out
}

func criEventType(t container.EventType) runtimeapi.ContainerEventType {
	switch t {
	case container.EventCreated:
		return runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT
	case container.EventStarted:
		return runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT
	case container.EventStopped:
		return runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT
	default:
		return runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT
	}
}

// statusTimestamp is when a status was put together, as kubelet's evented
// PLEG compares it.
func statusTimestamp() int64 { return time.Now().UnixNano() }
