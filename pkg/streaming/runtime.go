package streaming

import (
	"context"
	"fmt"
	"io"

	criserver "k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Containers runs commands in running containers; *container.Manager is
// one.
type Containers interface {
	Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) (int32, error)
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error
}

// Pods forwards connections to the ports of pods; *sandbox.Manager is one.
type Pods interface {
	PortForward(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error
}

// sessions runs the sessions the streaming library serves on the
// container and pod managers.
type sessions struct {
	containers Containers
	pods       Pods
	// ctx ends every session when the server closes.
	ctx context.Context
}

var _ criserver.Runtime = (*sessions)(nil)

// Exec runs cmd and reports a non-zero exit as the library's exit error,
// which it sends to the client as the command's exit code.
func (s *sessions) Exec(ctx context.Context, containerID string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ctx, cancel := s.session(ctx)
	defer cancel()
	code, err := s.containers.Exec(ctx, containerID, cmd, stdin, stdout, stderr, tty, resize)
	if err != nil {
		return err
	}
	if code != 0 {
		// The library recognises the exit by this type, not wrapped.
		return utilexec.CodeExitError{Err: fmt.Errorf("command %q exited with code %d", cmd, code), Code: int(code)}
	}
	return nil
}

// Attach connects the client to the container's own stdio, held by its
// monitor, until the container exits or the client goes away.
func (s *sessions) Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	ctx, cancel := s.session(ctx)
	defer cancel()
	return s.containers.Attach(ctx, containerID, stdin, stdout, stderr, resize)
}

// PortForward forwards stream to port of the pod.
func (s *sessions) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	ctx, cancel := s.session(ctx)
	defer cancel()
	return s.pods.PortForward(ctx, podSandboxID, port, stream)
}

// session is ctx, also ended when the server closes.
func (s *sessions) session(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(errServerClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}
