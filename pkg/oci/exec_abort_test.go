package oci

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An exec whose setup its context cuts short leaves no process in the
// container, neither running nor as a zombie child of the container's init
// (a sleep, which never reaps): the monitor reaps the exec's process before
// it goes. Each try cancels the exec as soon as its process shows in the
// container's cgroup, while crisp is still setting it up.
func TestAbortedExecLeavesNoProcess(t *testing.T) {
	rt := newTestRuntime(t)
	st := startContainer(t, rt, "execabort", testSpec(t, "sleep", "1000"))
	t.Cleanup(func() { _ = rt.Kill(context.Background(), "execabort", syscall.SIGKILL, false) })

	aborted := 0
	for try := 0; try < 20 && aborted < 5; try++ {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer cancel()
			for ctx.Err() == nil {
				if procs, err := rt.Ps(context.Background(), "execabort"); err == nil && len(procs) > 1 {
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
		proc := &specs.Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
		p, err := rt.Exec(ctx, "execabort", proc, ExecOptions{})
		cancel()
		if err == nil {
			// The exec was set up before the cancellation: end it, try again.
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
			if _, err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		aborted++
		procs, err := rt.Ps(context.Background(), "execabort")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(procs, []int{st.Pid}) {
			t.Fatalf("try %d: processes in the container after an aborted exec (%v): %v, want only the init %d", try, err, procs, st.Pid)
		}
		if kids := childrenOf(t, st.Pid); len(kids) > 0 {
			t.Fatalf("try %d: the container's init has children after an aborted exec: %v", try, kids)
		}
	}
	if aborted == 0 {
		t.Fatal("no exec was cut short in 20 tries")
	}
}

// childrenOf lists pid's children, zombies included.
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	p := strconv.Itoa(pid)
	data, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}
