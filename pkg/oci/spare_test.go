package oci

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newSpareRuntime is a runtime with Options.Spare whose first spare is
// ready.
func newSpareRuntime(t *testing.T) (*Runtime, *spares) {
	t.Helper()
	busyboxRootfs(t)
	rt, err := New(Options{Root: t.TempDir(), CgroupMount: cgroupMount(t), Spare: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	exe, err := rt.sealed()
	if err != nil {
		t.Fatal(err)
	}
	s := rt.spares(exe)
	s.made.Wait()
	return rt, s
}

// readySpare is the spare ready for the next launch.
func readySpare(t *testing.T, s *spares) *spare {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready == nil {
		t.Fatal("no spare ready")
	}
	return s.ready
}

// A runtime with Spare hands a container's creation to the spare it made
// ahead: that process becomes the container's monitor, the container runs
// and logs as one created without a spare, with no descriptor of the
// hand-over left, and the next spare is made.
func TestCreateUsesTheSpare(t *testing.T) {
	rt, s := newSpareRuntime(t)
	first := readySpare(t, s)
	logPath := filepath.Join(t.TempDir(), "c.log")
	runLogged(t, rt, "spare", logPath, "sh", "-c", "echo from-the-spare; ls /proc/self/fd; exit 4")
	rec, err := rt.load("spare")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Monitor.Pid != first.proc.Pid {
		t.Fatalf("the container's monitor is %d, want the spare %d", rec.Monitor.Pid, first.proc.Pid)
	}
	if st := rt.exitStatus("spare"); st == nil || st.Code != 4 {
		t.Errorf("exit status %+v, want code 4", st)
	}
	var out []string
	for _, l := range readLog(t, logPath) {
		if l.stream == "stdout" {
			out = append(out, l.content)
		}
	}
	// ls's own directory descriptor is 3.
	if got, want := strings.Join(out, " "), "from-the-spare 0 1 2 3"; got != want {
		t.Errorf("output %q, want %q: the greeting, and no descriptor of the hand-over", got, want)
	}
	s.made.Wait()
	if next := readySpare(t, s); next == first {
		t.Error("no new spare after the first was used")
	}
}

// A spare that died before its launch is not waited for: the launch
// executes crisp itself.
func TestDeadSpareIsReplacedByAnExec(t *testing.T) {
	rt, s := newSpareRuntime(t)
	sp := readySpare(t, s)
	if err := unix.Kill(sp.proc.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.proc.Wait(ctx, true); err != nil {
		t.Fatal(err)
	}
	runLogged(t, rt, "dead-spare", filepath.Join(t.TempDir(), "c.log"), "true")
	if st := rt.exitStatus("dead-spare"); st == nil || st.Code != 0 {
		t.Errorf("exit status %+v, want code 0", st)
	}
}

// Close ends the ready spare: no crisp process is left waiting.
func TestCloseEndsTheSpare(t *testing.T) {
	rt, s := newSpareRuntime(t)
	sp := readySpare(t, s)
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if sp.proc.Alive() {
		t.Fatalf("the spare %d still runs after Close", sp.proc.Pid)
	}
}
