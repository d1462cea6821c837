package oci

import (
	"context"
	"fmt"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// Wait blocks until the container's init has exited and returns how it
// ended. It works from any process: it waits for the container's monitor,
// which records the status before it exits.
func (r *Runtime) Wait(ctx context.Context, id string) (*ExitStatus, error) {
	rec, err := r.loadCreated(id)
	if err != nil {
		return nil, err
	}
	if err := waitGone(ctx, rec.Monitor); err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	st := r.exitStatus(id)
	if st == nil {
		return nil, fmt.Errorf("container %s: its monitor recorded no exit status: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}

// waitGone waits until the process exits, whoever its parent is. A
// process that is the caller's child (a monitor reparented to a caller that
// is a child subreaper) is reaped, so that it does not stay a zombie.
func waitGone(ctx context.Context, p proc.Ref) error { return p.Wait(ctx, true) }
