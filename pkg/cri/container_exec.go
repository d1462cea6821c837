package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/container"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Streams hands out the URLs of exec and port-forward sessions, which the
// streaming server (pkg/streaming) then serves.
type Streams interface {
	GetExec(*runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	GetPortForward(*runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
	GetAttach(*runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
}

// Exec prepares a streaming exec in a running container and returns the
// URL the client opens to run it.
func (s *RuntimeService) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if s.streams == nil {
		return nil, fmt.Errorf("Exec: no streaming server: %w", errdefs.ErrNotImplemented)
	}
	if req.GetContainerId() == "" {
		return nil, errdefs.InvalidField("container_id", "must not be empty")
	}
	if err := checkExecCmd(req.GetCmd()); err != nil {
		return nil, err
	}
	c, err := s.streamTarget(req.ContainerId, req.Stdin, req.Stdout, req.Stderr, req.Tty)
	if err != nil {
		return nil, err
	}
	// The session names the container by its full id, resolved now.
	return s.streams.GetExec(&runtimeapi.ExecRequest{
		ContainerId: c.ID, Cmd: req.Cmd, Tty: req.Tty, Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr,
	})
}

// streamTarget checks the streams a streaming request asks for and returns
// the running container it names.
func (s *RuntimeService) streamTarget(id string, stdin, stdout, stderr, tty bool) (*container.Container, error) {
	if !stdin && !stdout && !stderr {
		return nil, errdefs.InvalidField("stdin", "one of stdin, stdout and stderr must be set")
	}
	if tty && stderr {
		return nil, errdefs.InvalidField("stderr", "must not be set with tty: a terminal merges stderr into stdout")
	}
	c, err := s.containers.Get(id)
	if err != nil {
		return nil, err
	}
	if c.State != container.StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}
