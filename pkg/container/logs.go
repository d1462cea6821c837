package container

import (
	"context"
	"fmt"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// ReopenLog makes a running container's monitor reopen its log file, after
// kubelet renamed it to rotate it. It returns once the new file exists.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	cur, unlock, err := m.index.Acquire(id)
	if err != nil {
		return err
	}
	defer unlock()
	switch {
	case cur.State != StateRunning:
		return fmt.Errorf("container %s is %s, not running: %w", cur.ID, cur.State, errdefs.ErrFailedPrecondition)
	case cur.LogPath == "":
		return fmt.Errorf("container %s has no log: %w", cur.ID, errdefs.ErrFailedPrecondition)
	}
	if err := m.opts.Runtime.ReopenLog(ctx, cur.ID); err != nil {
		return fmt.Errorf("reopen log of container %s: %w", cur.ID, err)
	}
	return nil
}
