package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Attach is not supported yet: the streaming server does not connect
// clients to a container's own stdio. Its output is in its log file.
func (s *RuntimeService) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, fmt.Errorf("Attach: attaching to a container's stdio is not supported yet; use Exec, or read the container's log: %w", errdefs.ErrNotImplemented)
}
