package container

import (
	"context"
	"fmt"
	"io"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Attach connects the streams to a running container's output and, when it
// was created with stdin, its input; nil streams are left out. It returns
// when the container exits or ctx ends. Like ExecSync it takes no lock, so
// a long attach never holds up Stop or Remove.
// A container with a terminal sends all its output on stdout, and resize
// changes its terminal's size.
func (m *Manager) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan remotecommand.TerminalSize) error {
	c, err := m.Get(id)
	if err != nil {
		return err
	}
	if c.State != StateRunning {
		return fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sizes chan oci.TerminalSize
	if resize != nil {
		sizes = make(chan oci.TerminalSize)
		go func() {
			defer close(sizes)
			for {
				select {
				case <-ctx.Done():
					return
				case s, ok := <-resize:
					if !ok {
						return
					}
					select {
					case sizes <- oci.TerminalSize{Width: s.Width, Height: s.Height}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return m.opts.Runtime.Attach(ctx, c.ID, oci.AttachStreams{Stdin: stdin, Stdout: stdout, Stderr: stderr, Resize: sizes})
}
