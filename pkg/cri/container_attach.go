package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Attach prepares a streaming attach to a running container's own stdio
// and returns the URL the client opens: its output from then on and, for a
// container created with stdin, its input.
func (s *RuntimeService) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if s.streams == nil {
		return nil, fmt.Errorf("Attach: no streaming server: %w", errdefs.ErrNotImplemented)
	}
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	c, err := s.streamTarget(req.ContainerId, req.Stdin, req.Stdout, req.Stderr, req.Tty)
	if err != nil {
		return nil, err
	}
	return s.streams.GetAttach(&runtimeapi.AttachRequest{
		ContainerId: c.ID, Stdin: req.Stdin, Tty: req.Tty, Stdout: req.Stdout, Stderr: req.Stderr,
	})
}
