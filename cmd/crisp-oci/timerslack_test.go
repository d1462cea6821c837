package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
)

// testMainEnv has the test binary run as crisp-oci.
const testMainEnv = "CRISP_OCI_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The constructor raised this process's timer slack before Go started
// and kept the caller's.
func TestTimerSlackRaised(t *testing.T) {
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	caller := callerTimerSlack()
	switch {
	case caller == 0 && own < 1000000:
		t.Errorf("timer slack %d ns left alone, want 1 ms", own)
	case caller != 0 && (own != 1000000 || caller >= 1000000):
		t.Errorf("timer slack %d ns raised from %d, want 1 ms from less", own, caller)
	}
}

// `crisp-oci run`'s container gets the caller's timer slack, not the one
// crisp-oci raised for itself.
func TestRunGivesContainerCallerTimerSlack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	mount := cgroups.FindMount()
	if mount == "" {
		t.Skip("needs a cgroup2 mount")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	crispOCI := func(args ...string) *exec.Cmd {
		cmd := exec.Command(self, append([]string{"--root", filepath.Join(t.TempDir(), "state"), "--cgroup-mount", mount}, args...)...)
		cmd.Env = append(os.Environ(), testMainEnv+"=1")
		return cmd
	}
	if out, err := crispOCI("spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("spec: %v: %s", err, out)
	}
	config := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/busybox", "cat", "/proc/self/timerslack_ns"}
	spec.Linux.CgroupsPath = "/crisp-test/" + t.Name()
	if raw, err = json.Marshal(&spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// crisp-oci's caller: a thread of this process with a slack of its
	// own, which the process it starts inherits.
	const caller = 333000
	cmd := crispOCI("run", "--bundle", bundle, "slack")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	runtime.LockOSThread()
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err == nil {
		err = unix.Prctl(unix.PR_SET_TIMERSLACK, caller, 0, 0, 0)
	}
	if err == nil {
		err = cmd.Start()
		_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0)
	}
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v: %s", err, out.String())
	}
	if got := strings.TrimSpace(out.String()); got != strconv.Itoa(caller) {
		t.Errorf("the container has timer slack %s, want the caller's %d", got, caller)
	}
}
