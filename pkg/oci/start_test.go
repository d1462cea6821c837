package oci

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// startFifo makes a fifo and opens its read end as Start does.
func startFifo(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fifoFile)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return path, fd
}

// sleeper stands for a container's init: a process that lives until killed.
func sleeper(t *testing.T) (*exec.Cmd, proc.Ref) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	ref, err := proc.NewRef(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, ref
}

func awaitResult(t *testing.T, res <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the wait did not end", what)
		return nil
	}
}

// The wait for the start byte ends on the fifo's events, on the init's
// death and on cancellation, and takes no thread while it waits.
func TestAwaitStartByte(t *testing.T) {
	t.Run("started", func(t *testing.T) {
		path, fd := startFifo(t)
		_, ref := sleeper(t)
		res := make(chan error, 1)
		go func() { res <- awaitStartByte(context.Background(), fd, ref) }()
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-res:
			t.Fatalf("the wait ended (%v) before the fifo's end", err)
		default:
		}
		w.Close()
		if err := awaitResult(t, res, "started"); err != nil {
			t.Errorf("started: %v", err)
		}
	})
	t.Run("closed without the byte", func(t *testing.T) {
		path, fd := startFifo(t)
		_, ref := sleeper(t)
		res := make(chan error, 1)
		go func() { res <- awaitStartByte(context.Background(), fd, ref) }()
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		if err := awaitResult(t, res, "closed"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("closed without the byte: %v, want ErrFailedPrecondition", err)
		}
	})
	t.Run("init died", func(t *testing.T) {
		_, fd := startFifo(t)
		cmd, ref := sleeper(t)
		res := make(chan error, 1)
		go func() { res <- awaitStartByte(context.Background(), fd, ref) }()
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := awaitResult(t, res, "init died"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("init died: %v, want ErrFailedPrecondition", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		_, fd := startFifo(t)
		_, ref := sleeper(t)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { res <- awaitStartByte(ctx, fd, ref) }()
		cancel()
		if err := awaitResult(t, res, "cancelled"); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v, want context.Canceled", err)
		}
	})
	t.Run("many without threads", func(t *testing.T) {
		const n = 100
		_, ref := sleeper(t)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, n)
		for range n {
			_, fd := startFifo(t)
			go func() { res <- awaitStartByte(ctx, fd, ref) }()
		}
		// Let the waits park; a polling wait holds a thread throughout.
		deadline := time.Now().Add(time.Second)
		most := 0
		for time.Now().Before(deadline) {
			most = max(most, threads(t))
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		for range n {
			if err := awaitResult(t, res, "many"); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled: %v, want context.Canceled", err)
			}
		}
		if most >= 40 {
			t.Errorf("%d threads while %d starts were awaited", most, n)
		}
	})
}
