package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// threads is the test process's thread count.
func threads(t *testing.T) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}

// Waiting for many processes' exits takes no thread each, and each exit is
// seen as it happens; a cancelled wait ends.
func TestWaitManyWithoutThreads(t *testing.T) {
	const n = 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmds := make([]*exec.Cmd, n)
	done := make([]chan error, n)
	// reaped: Wait collected the child, whose pid may be reused.
	reaped := make([]bool, n)
	for i := range cmds {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !reaped[i] {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			}
		})
		ref, err := NewRef(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		cmds[i], done[i] = cmd, make(chan error, 1)
		go func() { done[i] <- ref.Wait(ctx, true) }()
	}
	most := 0
	for i, cmd := range cmds {
		most = max(most, threads(t))
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done[i]:
			if err != nil {
				t.Fatalf("wait for process %d: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the exit of process %d was not seen", i)
		}
		// Wait reaped its child: the pid is gone.
		reaped[i] = true
		if _, err := NewRef(cmd.Process.Pid); err == nil {
			t.Errorf("process %d was not reaped", i)
		}
	}
	if most >= 40 {
		t.Errorf("%d threads while %d exits were awaited", most, n)
	}

	// Cancellation ends a wait.
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	ref, err := NewRef(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- ref.Wait(wctx, true) }()
	wcancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled wait = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled wait did not end")
	}
}
