package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/container"
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
	if !req.GetStdin() && !req.GetStdout() && !req.GetStderr() {
		return nil, errdefs.InvalidField("stdin", "one of stdin, stdout and stderr must be set")
	}
	if req.GetTty() && req.GetStderr() {
		return nil, errdefs.InvalidField("stderr", "must not be set with tty: a terminal merges stderr into stdout")
	}
	c, err := s.containers.Get(req.ContainerId)
	if err != nil {
		return nil, err
	}
	if c.State != container.StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	return s.streams.GetAttach(&runtimeapi.AttachRequest{
		ContainerId: c.ID, Stdin: req.Stdin, Tty: req.Tty, Stdout: req.Stdout, Stderr: req.Stderr,
	})
}
