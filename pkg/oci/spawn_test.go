package oci

import (
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A descriptor the caller leaves nil is /dev/null, and the extra files
// follow from 3 in order.
func TestSpawnStdioAndExtraFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := spawn("/bin/sh", []string{"sh", "-c", "readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 | cat >&3"}, nil, [3]*os.File{}, []*os.File{w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := c.wait(); err != nil || exitCode(ws) != 0 {
		t.Fatalf("wait: status %v, err %v", ws, err)
	}
	if want := "/dev/null\n/dev/null\n/dev/null\n"; string(out) != want {
		t.Errorf("stdio of the spawned process: %q, want %q", out, want)
	}
}

// wait reaps once and tells every caller the same end.
func TestSpawnWaitIsIdempotent(t *testing.T) {
	c, err := spawn("/bin/sh", []string{"sh", "-c", "exit 3"}, nil, [3]*os.File{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		ws, err := c.wait()
		if err != nil || exitCode(ws) != 3 {
			t.Fatalf("wait %d: code %d, err %v; want 3", i, exitCode(ws), err)
		}
	}
	if !c.exited() {
		t.Error("exited is false after wait")
	}
	c.kill() // reaped: nothing to signal
}

// kill reaches a process another goroutine is waiting for: the wait does
// not hold the lock kill takes.
func TestSpawnKillWhileWaiting(t *testing.T) {
	c, err := spawn("/bin/sleep", []string{"sleep", "100"}, nil, [3]*os.File{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ws  unix.WaitStatus
		err error
	}
	done := make(chan result, 1)
	waiting := make(chan struct{})
	go func() {
		close(waiting)
		ws, err := c.wait()
		done <- result{ws, err}
	}()
	<-waiting
	killed := make(chan struct{})
	go func() {
		c.kill()
		close(killed)
	}()
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("kill blocked while another goroutine waited")
	}
	select {
	case res := <-done:
		if res.err != nil || !res.ws.Signaled() || res.ws.Signal() != unix.SIGKILL {
			t.Fatalf("wait after kill: status %v, err %v; want SIGKILL", res.ws, res.err)
		}
		if exitCode(res.ws) != -1 {
			t.Errorf("exit code of a killed process: %d, want -1", exitCode(res.ws))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wait did not return after kill")
	}
}
