package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// TestContainerLogDoesNotFollowSymlinks: a symlink at the log path, made
// before create or after kubelet rotated the log, is not followed; the file
// it points to stays untouched.
func TestContainerLogDoesNotFollowSymlinks(t *testing.T) {
	rt := newTestRuntime(t)
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertUntouched := func() {
		t.Helper()
		if data, _ := os.ReadFile(outside); string(data) != "precious\n" {
			t.Errorf("the symlink's target was written: %q", data)
		}
	}

	planted := filepath.Join(dir, "planted.log")
	if err := os.Symlink(outside, planted); err != nil {
		t.Fatal(err)
	}
	err := rt.Create(context.Background(), "symlinked", writeBundle(t, testSpec(t, "echo", "hostile")), CreateOptions{LogPath: planted})
	if err == nil {
		_ = rt.Delete(context.Background(), "symlinked", true)
		t.Fatal("create with a symlink as its log succeeded")
	}
	assertUntouched()

	// A FIFO without a reader fails create instead of hanging it.
	fifo := filepath.Join(dir, "fifo.log")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Create(ctx, "fifo", writeBundle(t, testSpec(t, "true")), CreateOptions{LogPath: fifo}); err == nil {
		_ = rt.Delete(context.Background(), "fifo", true)
		t.Fatal("create with a FIFO as its log succeeded")
	}

	logPath := filepath.Join(dir, "c.log")
	startRotated(ctx, t, rt, logPath)
	if err := os.Symlink(outside, logPath); err != nil {
		t.Fatal(err)
	}
	// The monitor handles the reopen signal before any output that follows
	// it, so "second" is written after the reopen was tried.
	if err := rt.ReopenLog(ctx, "rotated"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("ReopenLog with a symlink at the log path: %v, want a failed precondition", err)
	}
	finishRotated(ctx, t, rt)
	assertUntouched()
	if got := stream(readLog(t, logPath+".1"), "stdout"); strings.Join(got, "|") != "F first|F second" {
		t.Errorf("log kept by the monitor %q, want first and second", got)
	}
}

// TestContainerLogStaysInItsDirectory: a parent directory of the log swapped
// for a symlink after create does not move the log; the monitor reopens it
// in the directory it was created in, and nothing lands where the symlink
// points.
func TestContainerLogStaysInItsDirectory(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := t.TempDir()
	logDir := filepath.Join(pod, "ctr")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	logPath := filepath.Join(logDir, "0.log")
	startRotated(ctx, t, rt, logPath)

	moved := filepath.Join(pod, "ctr.old")
	if err := os.Rename(logDir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, logDir); err != nil {
		t.Fatal(err)
	}
	// ReopenLog looks for the new file by path, through the symlink, so
	// it does not see it; the monitor's reopen is what is checked below.
	reopenCtx, cancelReopen := context.WithTimeout(ctx, time.Second)
	_ = rt.ReopenLog(reopenCtx, "rotated")
	cancelReopen()
	finishRotated(ctx, t, rt)
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the log followed the swapped directory: %s holds %d entries", outside, len(entries))
	}
	if got := stream(readLog(t, filepath.Join(moved, "0.log")), "stdout"); strings.Join(got, "|") != "F second" {
		t.Errorf("reopened log in the original directory %q, want second", got)
	}
}

// TestLoggedProcessHoldsNoHostHandle: the log directory's handle, which the
// monitor keeps, never reaches the container's process.
func TestLoggedProcessHoldsNoHostHandle(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "0.log")
	if err := rt.Create(ctx, "fds", writeBundle(t, testSpec(t, "ls", "/proc/self/fd")), CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "fds", true) })
	if err := rt.Start(ctx, "fds"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "fds"); err != nil {
		t.Fatal(err)
	}
	// ls lists 0-2 and the directory it reads.
	if got := strings.Join(stream(readLog(t, logPath), "stdout"), " "); got != "F 0 F 1 F 2 F 3" {
		t.Errorf("the process had descriptors %q, want 0-2 and ls's own", got)
	}
}
