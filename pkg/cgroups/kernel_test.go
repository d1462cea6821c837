package cgroups

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests in this file run against the real kernel: they need root and a
// cgroup2 mount, and skip (naming what is missing) otherwise. On a pure v2
// host or guest they use /sys/fs/cgroup; on a hybrid host the cgroup2 mount
// found elsewhere, typically /sys/fs/cgroup/unified with few controllers.

// helperEnv makes the test binary run a helper process instead of tests.
const helperEnv = "CRISP_CGROUPS_TEST_HELPER"

// testCgroupPrefix names every cgroup the tests create, so that TestMain
// can prove none is left behind.
const testCgroupPrefix = "crisp-test-"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		runHelper(h)
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		if leaks := leakedTestCgroups(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: cgroups left behind: %v\n", leaks)
			code = 1
		}
	}
	os.Exit(code)
}

// runHelper is the body of a helper process.
func runHelper(what string) {
	// The Go runtime is up, with its threads: startHelper waits for this.
	fmt.Println("ready")
	switch {
	case what == "sleep":
		select {}
	case strings.HasPrefix(what, "open:"):
		openNodes(strings.TrimPrefix(what, "open:"))
		os.Exit(0)
	case strings.HasPrefix(what, "readdev:"):
		// Read 2 MiB from a block device with O_DIRECT, so that every
		// byte is block I/O charged to this cgroup.
		if err := readDirect(strings.TrimPrefix(what, "readdev:"), 2<<20); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case what == "spin":
		runtime.GOMAXPROCS(1)
		for x := 0; ; x++ {
			_ = x * x
		}
	case strings.HasPrefix(what, "alloc:"):
		var mib int
		fmt.Sscanf(strings.TrimPrefix(what, "alloc:"), "%d", &mib)
		for range mib {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			heldByAllocHelper = append(heldByAllocHelper, b)
		}
		fmt.Println("allocated")
		select {}
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", what)
	os.Exit(2)
}

// heldByAllocHelper keeps the alloc helper's memory reachable while it
// waits: a local slice would be dead after the loop, and the collector and
// the scavenger could hand the pages back before a test lowers the limit.
var heldByAllocHelper [][]byte

func leakedTestCgroups() []string {
	var leaks []string
	for _, mount := range append([]string{DefaultMount}, cgroup2Mounts()...) {
		matches, _ := filepath.Glob(filepath.Join(mount, testCgroupPrefix+"*"))
		leaks = append(leaks, matches...)
	}
	slices.Sort(leaks)
	return slices.Compact(leaks)
}

// realHierarchy opens the host's cgroup2 hierarchy or skips the test,
// naming the missing precondition.
func realHierarchy(t *testing.T, missing MissingPolicy, need ...string) *Hierarchy {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	h, err := OpenHierarchy(DefaultMount, missing)
	if err != nil {
		for _, mount := range cgroup2Mounts() {
			if h, err = OpenHierarchy(mount, missing); err == nil {
				break
			}
		}
	}
	if h == nil {
		t.Skipf("needs a cgroup2 mount: %v", err)
	}
	for _, c := range need {
		if !h.Has(c) {
			t.Skipf("needs a cgroup v2 hierarchy with the %s controller (%s offers: %s)", c, h.Mount(), strings.Join(h.Available(), " "))
		}
	}
	return h
}

// testCgroup creates a cgroup below the hierarchy root and removes it when
// the test ends, failing the test if removal fails.
func testCgroup(t *testing.T, h *Hierarchy, sub ...string) *Manager {
	t.Helper()
	name := fmt.Sprintf("/%s%s-%d", testCgroupPrefix, strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid())
	m, err := NewManager(h, filepath.Join(append([]string{name}, sub...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(t.Context()); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Destroy(ctx); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if m.Exists() {
			t.Errorf("cgroup %s still exists after Destroy", m.Path())
		}
	})
	return m
}

// startHelper starts a helper process directly inside m's cgroup with
// CLONE_INTO_CGROUP and returns once the helper runs its own code, so
// that its threads and descriptors are there to be counted.
func startHelper(t *testing.T, m *Manager, helper string) *exec.Cmd {
	t.Helper()
	return startHelperUntil(t, m, helper, "ready")
}

// startHelperUntil is startHelper waiting for the given lines in order:
// an alloc helper says "allocated" once it holds all its memory.
func startHelperUntil(t *testing.T, m *Manager, helper string, lines ...string) *exec.Cmd {
	t.Helper()
	fd, err := m.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+helper)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startCmd(t, cmd)
	r := bufio.NewReader(stdout)
	for _, want := range lines {
		if line, err := r.ReadString('\n'); line != want+"\n" {
			t.Fatalf("helper %s: line %q, %v; want %q", helper, line, err, want)
		}
	}
	return cmd
}

func startCmd(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func cpuUsage(t *testing.T, m *Manager) uint64 {
	t.Helper()
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s.CPU.UsageUsec
}

func TestKernelOpenHierarchyRejectsNonCgroup2(t *testing.T) {
	_, err := OpenHierarchy(t.TempDir(), MissingError)
	if err == nil || !strings.Contains(err.Error(), "is not a cgroup v2 (cgroup2) mount") {
		t.Fatalf("OpenHierarchy(tmpdir) = %v, want a not-cgroup2 error", err)
	}
	if fi, serr := os.Stat("/sys/fs/cgroup/unified"); serr == nil && fi.IsDir() {
		// A hybrid host: the message must point at the cgroup2 mount.
		_, err := OpenHierarchy(DefaultMount, MissingError)
		if err == nil || !strings.Contains(err.Error(), "/sys/fs/cgroup/unified") {
			t.Errorf("OpenHierarchy(%s) on a hybrid host = %v, want a message naming /sys/fs/cgroup/unified", DefaultMount, err)
		}
	}
}

func TestKernelPlacementFreezeThawKill(t *testing.T) {
	h := realHierarchy(t, MissingError)
	m := testCgroup(t, h)

	spin := startHelper(t, m, "spin")
	sleeper := startHelper(t, m, "sleep")
	// A process started elsewhere and moved in.
	moved := exec.Command(os.Args[0], "-test.run=^$")
	moved.Env = append(os.Environ(), helperEnv+"=sleep")
	startCmd(t, moved)
	if err := m.AddProcess(moved.Process.Pid); err != nil {
		t.Fatalf("AddProcess: %v", err)
	}
	procs, err := m.Procs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{spin, sleeper, moved} {
		if !slices.Contains(procs, c.Process.Pid) {
			t.Errorf("Procs() = %v, missing %d", procs, c.Process.Pid)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := m.Freeze(ctx); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if st, err := m.FreezeState(); err != nil || st != Frozen {
		t.Fatalf("FreezeState after Freeze = %v, %v", st, err)
	}
	before := cpuUsage(t, m)
	time.Sleep(300 * time.Millisecond)
	if after := cpuUsage(t, m); after != before {
		t.Errorf("frozen cgroup used CPU: usage_usec %d -> %d", before, after)
	}
	if err := m.Thaw(ctx); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if st, err := m.FreezeState(); err != nil || st != Thawed {
		t.Fatalf("FreezeState after Thaw = %v, %v", st, err)
	}
	before = cpuUsage(t, m)
	time.Sleep(300 * time.Millisecond)
	if after := cpuUsage(t, m); after <= before+10000 {
		t.Errorf("thawed spinner made no progress: usage_usec %d -> %d", before, after)
	}

	if err := m.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	for _, c := range []*exec.Cmd{spin, sleeper, moved} {
		err := c.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("process %d ended with %v, want SIGKILL", c.Process.Pid, err)
		}
	}
	waitUnpopulated(t, m)
}

func waitUnpopulated(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pop, err := m.Populated()
		if err != nil {
			t.Fatal(err)
		}
		if !pop {
			return
		}
		if time.Now().After(deadline) {
			procs, _ := m.Procs()
			t.Fatalf("cgroup still populated after kill: %v", procs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKernelKillFallbackSignalsEveryProcess(t *testing.T) {
	h := realHierarchy(t, MissingError)
	m := testCgroup(t, h)
	a := startHelper(t, m, "sleep")
	b := startHelper(t, m, "sleep")
	// killEach is what Kill does on kernels without cgroup.kill.
	if err := killEach(t.Context(), m.Path()); err != nil {
		t.Fatalf("killEach: %v", err)
	}
	for _, c := range []*exec.Cmd{a, b} {
		if err := c.Wait(); err == nil {
			t.Errorf("process %d exited cleanly, want killed", c.Process.Pid)
		}
	}
	waitUnpopulated(t, m)
}

func TestKernelDestroyRemovesPodTreeWithProcesses(t *testing.T) {
	h := realHierarchy(t, MissingError)
	pod := testCgroup(t, h)
	var ctrs []*Manager
	for _, id := range []string{"crisp-a", "crisp-b"} {
		c, err := NewManager(h, filepath.Join(strings.TrimPrefix(pod.Path(), h.Mount()), id))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(t.Context()); err != nil {
			t.Fatalf("Create %s: %v", id, err)
		}
		startHelper(t, c, "sleep")
		ctrs = append(ctrs, c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := pod.Destroy(ctx); err != nil {
		t.Fatalf("Destroy pod: %v", err)
	}
	for _, c := range append(ctrs, pod) {
		if c.Exists() {
			t.Errorf("%s survived Destroy", c.Path())
		}
	}
	// Destroying again is not an error.
	if err := pod.Destroy(ctx); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := pod.Procs(); err == nil {
		t.Error("Procs on a destroyed cgroup succeeded")
	}
}

func TestKernelMissingControllerPolicy(t *testing.T) {
	h := realHierarchy(t, MissingError)
	if h.Has("memory") {
		t.Skipf("needs a cgroup2 mount without the memory controller, as on a hybrid host (%s has it)", h.Mount())
	}
	m := testCgroup(t, h)
	err := m.Apply(memoryLimit(32 << 20))
	if err == nil || !strings.Contains(err.Error(), `controller "memory"`) {
		t.Fatalf("Apply(memory limit) = %v, want an error naming the memory controller", err)
	}

	hw := realHierarchy(t, MissingWarn)
	mw, err := NewManager(hw, strings.TrimPrefix(m.Path(), h.Mount()))
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.Apply(memoryLimit(32 << 20)); err != nil {
		t.Fatalf("Apply under MissingWarn: %v", err)
	}
	if s := hw.Skipped(); !slices.Contains(s, "memory") {
		t.Errorf("Skipped() = %v, want memory", s)
	}
	// Without a memory controller nothing can be OOM-killed.
	if n, err := m.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount() = %d, %v", n, err)
	}
}

func TestKernelHugetlbLimit(t *testing.T) {
	h := realHierarchy(t, MissingError, "hugetlb")
	m := testCgroup(t, h)
	sizes, _ := filepath.Glob(filepath.Join(m.Path(), "hugetlb.*.max"))
	if !slices.Contains(sizes, filepath.Join(m.Path(), "hugetlb.2MB.max")) {
		t.Skipf("needs 2 MiB huge pages (hugetlb files: %v)", sizes)
	}
	res := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}}
	if err := m.Apply(res); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if v, err := readUint(m.Path(), "hugetlb.2MB.max"); err != nil || v != 8<<20 {
		t.Errorf("hugetlb.2MB.max = %d, %v; want %d", v, err, 8<<20)
	}
	bad := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 8 << 20}}}
	if err := m.Apply(bad); err == nil || !strings.Contains(err.Error(), "hugepageLimits[0].pageSize") {
		t.Errorf("Apply(3MB pages) = %v, want an error naming the page size field", err)
	}
}
