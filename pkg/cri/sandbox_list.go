package cri

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// ListPodSandbox lists pods matching the filter: id (or a prefix of it),
// state, and every label of the label selector.
func (s *RuntimeService) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	if err := checkPodFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	return &runtimeapi.ListPodSandboxResponse{Items: s.podSandboxes(req.GetFilter())}, nil
}

// StreamPodSandboxes is ListPodSandbox for clients that read large answers
// as a stream; every pod is sent, in batches.
func (s *RuntimeService) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtimeapi.StreamPodSandboxesResponse]) error {
	if err := checkPodFilter(req.GetFilter()); err != nil {
		return err
	}
	items := s.podSandboxes(req.GetFilter())
	for start := 0; start == 0 || start < len(items); start += streamBatch {
		end := min(start+streamBatch, len(items))
		if err := stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: items[start:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (s *RuntimeService) podSandboxes(f *runtimeapi.PodSandboxFilter) []*runtimeapi.PodSandbox {
	var out []*runtimeapi.PodSandbox
	for _, sb := range s.sandboxes.List() {
		if !sandboxMatches(sb, f) {
			continue
		}
		out = append(out, &runtimeapi.PodSandbox{
			Id:             sb.ID,
			Metadata:       sandboxMetadata(sb),
			State:          sandboxState(sb),
			CreatedAt:      sb.CreatedAt.UnixNano(),
			Labels:         sb.Spec.Labels,
			Annotations:    sb.Spec.Annotations,
			RuntimeHandler: sb.Spec.RuntimeHandler,
		})
	}
	return out
}

func sandboxMatches(sb *sandbox.Sandbox, f *runtimeapi.PodSandboxFilter) bool {
	if f == nil {
		return true
	}
	if f.Id != "" && !strings.HasPrefix(sb.ID, f.Id) {
		return false
	}
	if f.State != nil && sandboxState(sb) != f.State.State {
		return false
	}
	for k, v := range f.LabelSelector {
		if got, ok := sb.Spec.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// checkPodFilter refuses a state filter that names no state: it would match
// nothing, silently.
func checkPodFilter(f *runtimeapi.PodSandboxFilter) error {
	if st := f.GetState(); st != nil {
		if _, ok := runtimeapi.PodSandboxState_name[int32(st.State)]; !ok {
			return errdefs.InvalidField("filter.state", fmt.Sprintf("unknown state %d", st.State))
		}
	}
	return nil
}
