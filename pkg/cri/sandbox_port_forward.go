package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// PortForward prepares forwarding to ports of a pod and returns the URL
// the client opens to carry the connections. The client names the port of
// each connection; the ports listed here, if any, are only checked.
func (s *RuntimeService) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if s.streams == nil {
		return nil, fmt.Errorf("PortForward: no streaming server: %w", errdefs.ErrNotImplemented)
	}
	if req.GetPodSandboxId() == "" {
		return nil, errdefs.InvalidField("pod_sandbox_id", "must not be empty")
	}
	for i, p := range req.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, errdefs.InvalidField(fmt.Sprintf("port[%d]", i), fmt.Sprintf("%d is not a TCP port (1-65535)", p))
		}
	}
	sb, err := s.sandboxes.Get(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	return s.streams.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: sb.ID, Port: req.Port})
}
