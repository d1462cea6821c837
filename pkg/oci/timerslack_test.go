package oci

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
)

// threadTimerSlack reads the calling thread's timer slack.
func threadTimerSlack(t *testing.T) string {
	t.Helper()
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(slack)
}

// A process started through starting has the slack; the starting thread
// keeps its own.
func TestTimerSlackStarting(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := threadTimerSlack(t)
	for _, tc := range []struct {
		slack timerSlack
		want  string
	}{
		{777000, "777000"},
		{0, own},
	} {
		cmd := exec.Command("cat", "/proc/self/timerslack_ns")
		var out strings.Builder
		cmd.Stdout = &out
		if err := tc.slack.starting(cmd.Start); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != tc.want {
			t.Errorf("slack %d: the process has %s, want %s", tc.slack, got, tc.want)
		}
		if got := threadTimerSlack(t); got != own {
			t.Errorf("slack %d: the starting thread has %s after, want its own %s", tc.slack, got, own)
		}
	}
}

// With Options.ChildTimerSlack, a container's process and the host's hooks
// have that slack, whatever the slack of the threads that start them.
func TestChildTimerSlack(t *testing.T) {
	busyboxRootfs(t)
	const slack = 777000
	rt, err := New(Options{Root: t.TempDir(), CgroupMount: cgroupMount(t), CRIU: criupb.Codec{}, ChildTimerSlack: slack})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	dir := t.TempDir()
	hookOut := filepath.Join(dir, "hook")
	spec := testSpec(t, "cat", "/proc/self/timerslack_ns")
	spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat /proc/self/timerslack_ns > " + hookOut}}}}
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 {
		t.Fatalf("container exited %d: %s", st.Code, out)
	}
	want := strconv.Itoa(slack)
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("the container's process has timer slack %s, want %s", got, want)
	}
	if data, err := os.ReadFile(hookOut); err != nil || strings.TrimSpace(string(data)) != want {
		t.Errorf("the createRuntime hook had timer slack %q (%v), want %s", data, err, want)
	}
}
