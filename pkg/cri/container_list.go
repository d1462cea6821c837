package cri

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ListContainers lists containers matching the filter: id (or a prefix of
// it), state, pod (or a prefix of its id) and every label of the selector.
func (s *RuntimeService) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	if err := checkContainerFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	return &runtimeapi.ListContainersResponse{Containers: s.listContainers(req.GetFilter())}, nil
}

// StreamContainers is ListContainers for clients that read large answers as
// a stream; every container is sent, in batches.
func (s *RuntimeService) StreamContainers(req *runtimeapi.StreamContainersRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamContainersResponse]) error {
	if err := checkContainerFilter(req.GetFilter()); err != nil {
		return err
	}
	items := s.listContainers(req.GetFilter())
	for start := 0; start == 0 || start < len(items); start += streamBatch {
		end := min(start+streamBatch, len(items))
		if err := stream.Send(&runtimeapi.StreamContainersResponse{Containers: items[start:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (s *RuntimeService) listContainers(f *runtimeapi.ContainerFilter) []*runtimeapi.Container {
	var out []*runtimeapi.Container
	for _, c := range s.containers.List() {
		if c.State == container.StateCreating || !containerMatches(c, f) {
			continue
		}
		out = append(out, &runtimeapi.Container{
			Id:           c.ID,
			PodSandboxId: c.PodID,
			Metadata:     containerMetadata(c),
			Image:        &runtimeapi.ImageSpec{Image: c.Image},
			ImageRef:     c.ImageRef,
			ImageId:      c.ImageID,
			State:        c.State.CRI(),
			CreatedAt:    c.CreatedAt.UnixNano(),
			Labels:       c.Labels,
			Annotations:  c.Annotations,
		})
	}
	return out
}

func containerMatches(c *container.Container, f *runtimeapi.ContainerFilter) bool {
	if f == nil {
		return true
	}
	if f.Id != "" && !strings.HasPrefix(c.ID, f.Id) {
		return false
	}
	if f.PodSandboxId != "" && !strings.HasPrefix(c.PodID, f.PodSandboxId) {
		return false
	}
	if f.State != nil && c.State.CRI() != f.State.State {
		return false
	}
	for k, v := range f.LabelSelector {
		if got, ok := c.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func containerMetadata(c *container.Container) *runtimeapi.ContainerMetadata {
	return &runtimeapi.ContainerMetadata{Name: c.Metadata.Name, Attempt: c.Metadata.Attempt}
}

// checkContainerFilter refuses a state filter that names no state: it would match
// nothing, silently.
func checkContainerFilter(f *runtimeapi.ContainerFilter) error {
	if st := f.GetState(); st != nil {
		if _, ok := runtimeapi.ContainerState_name[int32(st.State)]; !ok {
			return errdefs.InvalidField("filter.state", fmt.Sprintf("unknown state %d", st.State))
		}
	}
	return nil
}
