package oci

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Delete removes a stopped container: its cgroup and state, then runs its
// poststop hooks. With force a created or running one is killed first.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	rec, err := r.load(id)
	if err != nil {
		return err
	}
	dir := r.dir(id)
	if rec == nil {
		// A create that crashed midway left only its directory.
		if !force {
			return fmt.Errorf("container %s is being created: %w", id, errdefs.ErrFailedPrecondition)
		}
		return os.RemoveAll(dir)
	}
	cg, err := r.openCgroup(rec.CgroupMount, rec.CgroupsPath)
	if err != nil {
		return err
	}
	// The spec: deleting a container that is not stopped, a created one
	// too, is an error that leaves it as it was (runc deletes a created
	// one). force kills it first.
	if st := r.status(rec); st != StatusStopped && !force {
		return fmt.Errorf("container %s is %s; stop it or use force: %w", id, st, errdefs.ErrFailedPrecondition)
	}
	if rec.Init.Alive() {
		// cgroup.kill reaches frozen processes too.
		if err := cg.Kill(); err != nil {
			_ = signalProc(rec.Init, unix.SIGKILL)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := waitGone(waitCtx, rec.Monitor); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	if err := cg.Destroy(ctx); err != nil {
		return fmt.Errorf("container %s: remove cgroup: %w", id, err)
	}
	state := &State{Version: rec.Config.Version, ID: id, Status: StatusStopped, Bundle: rec.Bundle, Annotations: rec.Config.Annotations}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("container %s: remove state: %w", id, err)
	}
	if h := rec.Config.Hooks; h != nil && len(h.Poststop) > 0 {
		runHooksWarning(ctx, r.childSlack, id, "poststop", h.Poststop, state.OCI())
	}
	return nil
}
