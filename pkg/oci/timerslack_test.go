package oci

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
)

// With Options.ChildTimerSlack, a container's process and the host's hooks
// have that slack, whatever the slack of the threads that start them.
func TestChildTimerSlack(t *testing.T) {
	busyboxRootfs(t)
	const slack = 777 * time.Microsecond
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
	want := strconv.FormatInt(slack.Nanoseconds(), 10)
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("the container's process has timer slack %s, want %s", got, want)
	}
	if data, err := os.ReadFile(hookOut); err != nil || strings.TrimSpace(string(data)) != want {
		t.Errorf("the createRuntime hook had timer slack %q (%v), want %s", data, err, want)
	}
}
