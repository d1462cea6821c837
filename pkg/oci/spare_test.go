package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
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

// Taking the spare does not start the next one: its exec would compete
// with the launch for the CPU. The launch has it made once it is done
// (TestCreateUsesTheSpare).
func TestTakingTheSpareStartsNoOther(t *testing.T) {
	_, s := newSpareRuntime(t)
	sp := s.take()
	if sp == nil {
		t.Fatal("no spare ready")
	}
	defer sp.discard()
	s.mu.Lock()
	making, ready := s.making, s.ready
	s.mu.Unlock()
	if making || ready != nil {
		t.Fatalf("after take: making %v, ready %v; want no spare started until the launch is done", making, ready != nil)
	}
	s.refill()
	s.made.Wait()
	if readySpare(t, s) == sp {
		t.Error("refill made no new spare")
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

// A hand-over a spare could misread is refused before anything reaches
// it: an environment entry holding a NUL (it would split in two) or
// without "=", an environment over the spare's bound, or none (an empty
// message reads as the socket's end). A launch with more descriptors than
// a spare takes, or with stdio of its own, executes crisp instead.
func TestHandRefusesWhatASpareCannotRead(t *testing.T) {
	for name, env := range map[string][]string{
		"NUL":   {"_CRISP_INIT_SYNC=3\x00_CRISP_INIT_DETACH=1"},
		"no =":  {"_CRISP_INIT_SYNC"},
		"huge":  {"X=" + strings.Repeat("a", nsenter.SpareMaxEnv)},
		"empty": nil,
	} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		theirs := os.NewFile(uintptr(fds[1]), "spare-child")
		sp := &spare{sock: os.NewFile(uintptr(fds[0]), "spare")}
		if err := sp.hand(env, nil); err == nil {
			t.Errorf("%s: handed", name)
		}
		// hand closed its end: the spare reads the end, not a launch.
		buf := make([]byte, nsenter.SpareMaxEnv+16)
		if n, _, _, _, err := unix.Recvmsg(int(theirs.Fd()), buf, nil, unix.MSG_DONTWAIT); n != 0 || err != nil {
			t.Errorf("%s: the spare received %d bytes (%v), want only the socket's end", name, n, err)
		}
		theirs.Close()
	}
	l := &launch{spares: &spares{}, detach: true}
	if l.usable(make([]*os.File, nsenter.SpareMaxFiles+1)) {
		t.Error("a launch with more descriptors than a spare takes is handed to one")
	}
	l.stdio[1] = os.Stdout
	if l.usable(nil) {
		t.Error("a launch with its own stdout is handed to a spare")
	}
}

// A spare whose runtime dies (its end of the socket closes without
// Close) exits: nothing is left waiting.
func TestSpareEndsWithItsRuntime(t *testing.T) {
	rt, _ := newSpareRuntime(t)
	exe, err := rt.sealed()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := startSpare(exe)
	if err != nil {
		t.Fatal(err)
	}
	sp.sock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sp.proc.Wait(ctx, true); err != nil {
		t.Fatalf("the spare after its runtime's end closed: %v", err)
	}
}
