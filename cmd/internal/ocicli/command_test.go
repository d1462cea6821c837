package ocicli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/criu/criupb"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// TestMain lets the test binary stand in for crisp: re-executed with
// CRISP_TEST_MAIN=1 it runs `crisp oci`, and the OCI executor re-executes
// it to enter containers.
func TestMain(m *testing.M) {
	switch os.Getenv("CRISP_TEST_MAIN") {
	case "1":
		root := &cobra.Command{Use: "crisp", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(NewCommand("oci", criupb.Codec{}))
		AddLogFlags(root)
		if err := root.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "crisp:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "crisp-oci", "crisp-oci-handed-over":
		// crisp-oci (no CRIU protocol), called as itself or serving a
		// `crisp oci …` crisp handed over (cmd/crisp-oci).
		// Built for its arguments, as cmd/crisp-oci builds it, with the
		// timer slack of its children from CRISP_TEST_CHILD_SLACK.
		slack, _ := strconv.ParseInt(os.Getenv("CRISP_TEST_CHILD_SLACK"), 10, 64)
		program := Program{ChildTimerSlack: time.Duration(slack)}
		root := NewCommandFor("crisp-oci", os.Args[1:], program)
		if os.Getenv("CRISP_TEST_MAIN") == "crisp-oci-handed-over" {
			root = &cobra.Command{Use: "crisp", SilenceUsage: true, SilenceErrors: true}
			root.AddCommand(NewCommandFor("oci", os.Args[2:], program))
		}
		if err := root.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "crisp-oci:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ociCLI runs `crisp oci` with the test's root and cgroup mount.
type ociCLI struct {
	t           *testing.T
	root, mount string
}

func newOCICLI(t *testing.T) *ociCLI {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	m := cgroups.FindMount()
	if m == "" {
		t.Skip("needs a cgroup2 mount")
	}
	return &ociCLI{t: t, root: t.TempDir(), mount: m}
}

// command is `crisp oci` with the test's root and cgroup mount.
func (c *ociCLI) command(args ...string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", append([]string{"oci", "--root", c.root, "--cgroup-mount", c.mount}, args...)...)
	cmd.Env = append(os.Environ(), "CRISP_TEST_MAIN=1")
	return cmd
}

// run returns stdout, stderr and the exit code.
func (c *ociCLI) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := c.command(args...)
	// Files, not pipes: a created container keeps crisp's stdio, and a
	// pipe would not end while it runs.
	dir := c.t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer out.Close()
	errOut, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer errOut.Close()
	cmd.Stdout, cmd.Stderr = out, errOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		c.t.Fatal(err)
	}
	stdout, _ := os.ReadFile(out.Name())
	stderr, _ := os.ReadFile(errOut.Name())
	return string(stdout), string(stderr), cmd.ProcessState.ExitCode()
}

// busyboxBundle makes a bundle directory with a busybox rootfs and the
// config.json of `crisp oci spec`, edited by edit.
func busyboxBundle(t *testing.T, c *ociCLI, edit func(*specs.Spec)) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	bundle := t.TempDir()
	bin := filepath.Join(bundle, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.Mkdir(filepath.Join(bundle, "rootfs", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "echo", "sleep", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := c.run("spec", "--bundle", bundle); code != 0 {
		t.Fatalf("crisp oci spec: %d %s %s", code, out, errOut)
	}
	path := filepath.Join(bundle, "config.json")
	spec := &specs.Spec{}
	if data, err = os.ReadFile(path); err == nil {
		err = json.Unmarshal(data, spec)
	}
	if err != nil {
		t.Fatalf("config.json from crisp oci spec: %v", err)
	}
	edit(spec)
	if data, err = json.Marshal(spec); err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

func TestOCISpecThenRun(t *testing.T) {
	c := newOCICLI(t)
	for _, terminal := range []bool{false, true} {
		bundle := busyboxBundle(t, c, func(s *specs.Spec) {
			s.Process.Terminal = terminal
			s.Process.Args = []string{"sh", "-c", "echo hello from busybox; exit 5"}
		})
		out, errOut, code := c.run("run", "--bundle", bundle, "spec-run")
		want := "hello from busybox\n"
		if terminal {
			want = "hello from busybox\r\n" // through the pseudo-terminal
		}
		if code != 5 || out != want {
			t.Errorf("terminal %v: run exit %d, stdout %q (stderr %q), want 5 and %q", terminal, code, out, errOut, want)
		}
		if out, _, _ := c.run("list", "-q"); out != "" {
			t.Errorf("run left containers behind: %q", out)
		}
	}
}

func TestOCILifecycleCommands(t *testing.T) {
	c := newOCICLI(t)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sleep", "100"}
		s.Linux.CgroupsPath = "/crisp-test/cli"
	})
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := c.run(args...)
		if code != 0 {
			t.Fatalf("crisp oci %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}
	status := func() string {
		t.Helper()
		var st oci.State
		if err := json.Unmarshal([]byte(must("state", "cli")), &st); err != nil {
			t.Fatal(err)
		}
		return string(st.Status)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	must("create", "--bundle", bundle, "--pid-file", pidFile, "cli")
	t.Cleanup(func() { c.run("delete", "--force", "cli") })
	if s := status(); s != "created" {
		t.Errorf("after create: %s", s)
	}
	if data, err := os.ReadFile(pidFile); err != nil || len(data) == 0 {
		t.Errorf("pid file: %q %v", data, err)
	}
	must("start", "cli")
	if s := status(); s != "running" {
		t.Errorf("after start: %s", s)
	}
	if out, _, code := c.run("exec", "cli", "sh", "-c", "echo exec works; exit 3"); code != 3 || out != "exec works\n" {
		t.Errorf("exec: exit %d, %q", code, out)
	}
	if out := must("ps", "--format", "json", "cli"); !strings.HasPrefix(out, "[") || out == "[]\n" {
		t.Errorf("ps: %q", out)
	}
	if out := must("list"); !strings.Contains(out, "cli") || !strings.Contains(out, "running") {
		t.Errorf("list: %q", out)
	}
	must("pause", "cli")
	if s := status(); s != "paused" {
		t.Errorf("after pause: %s", s)
	}
	must("resume", "cli")
	if _, _, code := c.run("delete", "cli"); code == 0 {
		t.Error("delete of a running container succeeded without --force")
	}
	must("kill", "cli", "KILL")
	// The signal is delivered asynchronously, as with runc.
	for deadline := time.Now().Add(5 * time.Second); status() != "stopped" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	must("delete", "cli")
	if _, _, code := c.run("state", "cli"); code == 0 {
		t.Error("state after delete succeeded")
	}
	var f struct {
		OCIVersionMax string `json:"ociVersionMax"`
	}
	if err := json.Unmarshal([]byte(must("features")), &f); err != nil || f.OCIVersionMax != specs.Version {
		t.Errorf("features: %+v %v", f, err)
	}
}

// The monitor records the exit status: a later crisp process reports it,
// although the process that created the container is long gone.
func TestOCIExitStatusOutlivesCreator(t *testing.T) {
	c := newOCICLI(t)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sh", "-c", "exit 9"}
		s.Linux.CgroupsPath = "/crisp-test/cli-exit"
	})
	if _, errOut, code := c.run("create", "--bundle", bundle, "exit9"); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	t.Cleanup(func() { c.run("delete", "--force", "exit9") })
	if _, errOut, code := c.run("start", "exit9"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	var st oci.State
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, _, _ := c.run("state", "exit9")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatal(err)
		}
		if st.Status == oci.StatusStopped && st.ExitStatus != nil {
			break
		}
	}
	if st.Status != oci.StatusStopped || st.ExitStatus == nil || st.ExitStatus.Code != 9 {
		t.Errorf("state %+v, want stopped with exit code 9", st)
	}
}

// TestOCIRunForwardsSignals sends `crisp oci run` a signal that the
// container's process traps: the process's exit code comes back.
func TestOCIRunForwardsSignals(t *testing.T) {
	c := newOCICLI(t)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sh", "-c", "trap 'echo got USR1; exit 7' USR1; echo ready; while :; do sleep 0.05; done"}
	})
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := c.command("run", "--bundle", bundle, "signals")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(out.Name())
		if strings.Contains(string(data), "ready") {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			c.run("delete", "--force", "signals")
			t.Fatalf("the container did not start: %q", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		c.run("delete", "--force", "signals")
		t.Fatal("the container did not get the signal: run still waits")
	}
	data, _ := os.ReadFile(out.Name())
	if code := cmd.ProcessState.ExitCode(); code != 7 || !strings.Contains(string(data), "got USR1") {
		t.Errorf("run exited %d with output %q, want 7 and the trap's message", code, data)
	}
	if out, _, _ := c.run("list", "-q"); out != "" {
		t.Errorf("run left containers behind: %q", out)
	}
}

// TestOCIRunPreserveFDs passes crisp a file at descriptor 3 and
// --preserve-fds 1: the container's process writes to it.
func TestOCIRunPreserveFDs(t *testing.T) {
	c := newOCICLI(t)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"sh", "-c", "echo preserved >&3"}
	})
	shared, err := os.Create(filepath.Join(t.TempDir(), "fd3"))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	cmd := c.command("run", "--preserve-fds", "1", "--bundle", bundle, "preserve")
	cmd.ExtraFiles = []*os.File{shared}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v: %s", err, out)
	}
	if data, _ := os.ReadFile(shared.Name()); string(data) != "preserved\n" {
		t.Errorf("descriptor 3 got %q, want \"preserved\\n\"", data)
	}
}

// `run` in the foreground with a process that wants a terminal receives
// the terminal itself and relays it to its own stdio, as runc does.
func TestOCIRunRelaysTerminal(t *testing.T) {
	c := newOCICLI(t)
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; echo relayed"}
	})
	out, errOut, code := c.run("run", "--bundle", bundle, "ttyrun")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	if want := "/dev/pts/0\r\nrelayed\r\n"; out != want {
		t.Errorf("relayed %q, want %q", out, want)
	}
}

// TestOCIRuncGlobalFlags passes runc's global flags that tools send:
// --systemd-cgroup checks the cgroup path's form, --rootless=true is
// refused, --debug and --criu are accepted.
func TestOCIRuncGlobalFlags(t *testing.T) {
	c := newOCICLI(t)
	if _, errOut, code := c.run("--rootless", "true", "list"); code == 0 || !strings.Contains(errOut, "root only") {
		t.Errorf("--rootless true: exit %d, stderr %q; want a refusal", code, errOut)
	}
	if out, errOut, code := c.run("--debug", "--criu", "/usr/sbin/criu", "--rootless", "false", "list", "-q"); code != 0 || out != "" {
		t.Errorf("list with --debug --criu --rootless false: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = []string{"true"}
		s.Linux.CgroupsPath = "/crisp-test/flags"
	})
	if _, errOut, code := c.run("--systemd-cgroup", "run", "--bundle", bundle, "flags"); code == 0 || !strings.Contains(errOut, "linux.cgroupsPath") {
		t.Errorf("--systemd-cgroup with a cgroupfs path: exit %d, stderr %q; want an error naming linux.cgroupsPath", code, errOut)
	}
	if out, _, _ := c.run("list", "-q"); out != "" {
		t.Errorf("the refused run left %q behind", out)
	}
}

// TestOCICheckpointRestore checkpoints a counting container with `crisp
// oci checkpoint` and brings it back with `crisp oci restore`: the count
// goes on from where it stopped. It needs CRIU whose `criu check` passes
// (the qemu guest of hack/vm).
func TestOCICheckpointRestore(t *testing.T) {
	c := newOCICLI(t)
	criu, err := exec.LookPath("criu")
	if err != nil {
		t.Skip("needs criu (Debian's criu package)")
	}
	if out, err := exec.Command(criu, "check").CombinedOutput(); err != nil {
		t.Skipf("needs a kernel that `criu check` accepts (the qemu guest: hack/vm/vm-test.sh go-test --qemu): %v: %s", err, out)
	}
	bundle := busyboxBundle(t, c, func(s *specs.Spec) {
		s.Process.Terminal = false
		// A rename replaces the count whole: a checkpoint taken between
		// a truncation and its write would read as 0.
		s.Process.Args = []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.05; done"}
		s.Root.Readonly = false
		s.Linux.CgroupsPath = "/crisp-test/cli-checkpoint"
	})
	count := func() int {
		data, _ := os.ReadFile(filepath.Join(bundle, "rootfs", "count"))
		n := 0
		for _, ch := range strings.TrimSpace(string(data)) {
			n = n*10 + int(ch-'0')
		}
		return n
	}
	waitPast := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if count() > n {
				return
			}
		}
		t.Fatalf("the counter never went past %d", n)
	}
	// No stdio (a detached container keeps crisp's): the container's
	// becomes its own /dev/null, which CRIU can dump. Errors go to --log.
	logFile := filepath.Join(t.TempDir(), "crisp.log")
	detached := func(args ...string) {
		t.Helper()
		if err := c.command(append([]string{"--log", logFile}, args...)...).Run(); err != nil {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%v: %v %s", args, err, log)
		}
	}
	detached("run", "--detach", "--bundle", bundle, "counter")
	t.Cleanup(func() { c.run("delete", "--force", "counter"); c.run("delete", "--force", "restored") })
	waitPast(5)
	images := filepath.Join(t.TempDir(), "images")
	if out, errOut, code := c.run("checkpoint", "--image-path", images, "counter"); code != 0 {
		t.Fatalf("checkpoint: %d %s %s", code, out, errOut)
	}
	var st oci.State
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, _, _ := c.run("state", "counter")
		if err := json.Unmarshal([]byte(out), &st); err == nil && st.Status == oci.StatusStopped {
			break
		}
	}
	if st.Status != oci.StatusStopped {
		t.Fatalf("after checkpoint: %+v, want stopped", st)
	}
	stopped := count()
	if _, errOut, code := c.run("delete", "counter"); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	detached("restore", "--detach", "--bundle", bundle, "--image-path", images, "restored")
	// The first change must carry on from the checkpoint: a counter that
	// started over writes 1.
	var got int
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = count(); got != stopped {
			break
		}
	}
	if got <= stopped || got > stopped+3 {
		t.Errorf("the restored counter wrote %d, the checkpoint stopped it at %d: want the next numbers", got, stopped)
	}
	out, _, _ := c.run("state", "restored")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Status != oci.StatusRunning {
		t.Errorf("restored state %s, want running", out)
	}
}
