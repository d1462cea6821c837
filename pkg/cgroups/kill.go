package cgroups

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Kill sends SIGKILL to every process in the cgroup's subtree through
// cgroup.kill. On kernels older than 5.14, which lack cgroup.kill, it signals
// the processes listed in cgroup.procs until none is left, so that processes
// forked meanwhile are caught too. Kill does not wait for the processes to be
// reaped; Destroy does.
func (m *Manager) Kill() error {
	return m.notFound(killTree(context.Background(), m.dir))
}

func killTree(ctx context.Context, dir string) error {
	err := writeFile(dir, "cgroup.kill", "1")
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kill: %w", err)
	}
	if _, serr := os.Stat(dir); serr != nil {
		return fmt.Errorf("kill: %w", serr)
	}
	return killEach(ctx, dir)
}

// killEach is the cgroup.kill fallback: freeze so nothing forks, signal,
// thaw so the signals are delivered, and repeat while processes remain.
func killEach(ctx context.Context, dir string) error {
	const rounds = 100
	for range rounds {
		// Freezing needs cgroup.freeze (5.2); without it signal anyway.
		frozen := writeFile(dir, "cgroup.freeze", "1") == nil
		n, err := signalTree(dir, unix.SIGKILL)
		if frozen {
			_ = writeFile(dir, "cgroup.freeze", "0")
		}
		if err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill %s: %w", dir, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return fmt.Errorf("kill %s: processes keep appearing after %d rounds", dir, rounds)
}

// signalTree sends sig to every process in dir and its descendants and
// returns how many it found.
func signalTree(dir string, sig unix.Signal) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		pids, err := readProcs(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, sig); err == nil {
				n++
			}
		}
		return nil
	})
	return n, err
}
