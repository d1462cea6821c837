package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Attach is not supported yet: a container's stdio is owned by its
// monitor, which writes it to the container's log and has no way to hand
// it to a client. Logs are read from the log file instead.
func (s *RuntimeService) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, fmt.Errorf("Attach: a container's stdio is owned by its monitor and cannot be attached to yet; read its log or use Exec: %w", errdefs.ErrNotImplemented)
}
