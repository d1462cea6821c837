package container

import (
	"context"
	"fmt"
	"io"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Attach connects the streams to a running container's output and, when it
// was created with stdin, its input; nil streams are left out. It returns
// when the container exits or ctx ends. Like ExecSync it takes no lock, so
// a long attach never holds up Stop or Remove.
func (m *Manager) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := m.Get(id)
	if err != nil {
		return err
	}
	if c.State != StateRunning {
		return fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	return m.opts.Runtime.Attach(ctx, c.ID, oci.AttachStreams{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
