package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openNodes is the body of the "open:" helper process: it opens the
// space-separated paths read-write and prints, per path, "ok" or the errno
// name the kernel gave.
func openNodes(paths string) {
	for _, p := range strings.Fields(paths) {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Printf("%s %s\n", p, unix.ErrnoName(err.(unix.Errno)))
			continue
		}
		unix.Close(fd)
		fmt.Printf("%s ok\n", p)
	}
}

// openInCgroup opens paths read-write from a child process started in m's
// cgroup and returns, per path, "ok" or the errno name the kernel gave.
func openInCgroup(t *testing.T, m *Manager, paths ...string) map[string]string {
	t.Helper()
	fd, err := m.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=open:"+strings.Join(paths, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "/") {
			got[f[0]] = f[1]
		}
	}
	return got
}

// deviceCgroup returns a fresh cgroup with rules applied, or skips the test
// when the kernel cannot attach a device program to it.
func deviceCgroup(t *testing.T, rules []specs.LinuxDeviceCgroup) *Manager {
	t.Helper()
	m := testCgroup(t, realHierarchy(t, MissingError))
	if err := m.Apply(&specs.LinuxResources{Devices: rules}); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("needs a kernel with cgroup BPF device programs (CONFIG_CGROUP_BPF) attachable to %s: %v", m.Path(), err)
		}
		t.Fatalf("Apply devices: %v", err)
	}
	return m
}

func TestKernelDeviceRulesDenyNullAllowZero(t *testing.T) {
	m := deviceCgroup(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
	})
	got := openInCgroup(t, m, "/dev/null", "/dev/zero")
	if got["/dev/null"] != "EPERM" {
		t.Errorf("open /dev/null in the cgroup: %q, want EPERM", got["/dev/null"])
	}
	if got["/dev/zero"] != "ok" {
		t.Errorf("open /dev/zero in the cgroup: %q, want ok", got["/dev/zero"])
	}
}

// TestKernelDeviceRulesLastMatchWinsAndLiveUpdate checks rule order (a later
// deny overrides an earlier allow) and that a second Apply replaces the
// program rather than adding to it.
func TestKernelDeviceRulesLastMatchWinsAndLiveUpdate(t *testing.T) {
	m := deviceCgroup(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
		{Allow: false, Type: "c", Major: i64(1), Minor: i64(5), Access: "w"},
	})
	got := openInCgroup(t, m, "/dev/null", "/dev/zero")
	if got["/dev/null"] != "ok" || got["/dev/zero"] != "EPERM" {
		t.Fatalf("first rules: /dev/null %q (want ok), /dev/zero read-write %q (want EPERM)", got["/dev/null"], got["/dev/zero"])
	}

	if err := m.Apply(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rw"},
	}}); err != nil {
		t.Fatalf("Apply update: %v", err)
	}
	got = openInCgroup(t, m, "/dev/null", "/dev/zero")
	if got["/dev/null"] != "EPERM" || got["/dev/zero"] != "ok" {
		t.Errorf("updated rules: /dev/null %q (want EPERM), /dev/zero %q (want ok)", got["/dev/null"], got["/dev/zero"])
	}

	// Resources without device rules leave the program alone.
	if err := m.Apply(&specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	if got = openInCgroup(t, m, "/dev/null"); got["/dev/null"] != "EPERM" {
		t.Errorf("after Apply without rules: /dev/null %q, want EPERM still", got["/dev/null"])
	}
}

// TestKernelDeviceRulesMknod checks the m permission: mknod of a denied
// device fails, even for root with CAP_MKNOD.
func TestKernelDeviceRulesMknod(t *testing.T) {
	m := deviceCgroup(t, []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
	})
	dir := t.TempDir()
	fd, err := m.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	script := fmt.Sprintf("mknod %[1]s/zero c 1 5 && echo zero-ok; mknod %[1]s/null c 1 3 && echo null-ok; true", dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	if !strings.Contains(string(out), "zero-ok") {
		t.Errorf("mknod of the allowed c 1:5 failed:\n%s", out)
	}
	if strings.Contains(string(out), "null-ok") || !strings.Contains(string(out), "not permitted") {
		t.Errorf("mknod of the denied c 1:3 did not fail with EPERM:\n%s", out)
	}
}

// attachedCount returns how many device programs m's cgroup has.
func attachedCount(t *testing.T, m *Manager) int {
	t.Helper()
	return len(attachedIDs(t, m))
}

// Every Apply leaves exactly one device program on the cgroup: it replaces
// crisp's own, and others attached beside it (by an earlier crisp, or
// another tool) are detached, never left to deny what the rules allow.
func TestKernelDeviceProgramReplaced(t *testing.T) {
	m := deviceCgroup(t, []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}})
	if n := attachedCount(t, m); n != 1 {
		t.Fatalf("after the first Apply: %d programs, want 1", n)
	}
	allowZero := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
	}
	if err := m.Apply(&specs.LinuxResources{Devices: allowZero}); err != nil {
		t.Fatal(err)
	}
	if n := attachedCount(t, m); n != 1 {
		t.Fatalf("after a second Apply: %d programs, want 1", n)
	}
	// Two more deny-all programs beside it.
	for range 2 {
		denyAll, err := compileDeviceRules([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}})
		if err != nil {
			t.Fatal(err)
		}
		progFd, err := loadDeviceProgram(deviceProgram(denyAll))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := m.OpenFD()
		if err != nil {
			t.Fatal(err)
		}
		attr := bpfProgAttachAttr{targetFd: uint32(dir.Fd()), attachBpfFd: uint32(progFd),
			attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
		_, err = bpfCall(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		dir.Close()
		unix.Close(progFd)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := attachedCount(t, m); n != 3 {
		t.Fatalf("after attaching two more: %d programs, want 3", n)
	}
	if got := openInCgroup(t, m, "/dev/zero"); got["/dev/zero"] != "EPERM" {
		t.Fatalf("with the deny-all programs beside: /dev/zero %q, want EPERM", got["/dev/zero"])
	}
	if err := m.Apply(&specs.LinuxResources{Devices: allowZero}); err != nil {
		t.Fatal(err)
	}
	if n := attachedCount(t, m); n != 1 {
		t.Errorf("after Apply over three: %d programs, want 1", n)
	}
	if got := openInCgroup(t, m, "/dev/zero"); got["/dev/zero"] != "ok" {
		t.Errorf("after Apply over three: /dev/zero %q, want ok", got["/dev/zero"])
	}
}

// The kernel's verifier accepts the program of the most rules crisp takes,
// each a distinct exception, in either default.
func TestKernelLargestDeviceProgramLoads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	for _, defaultAllow := range []bool{false, true} {
		rules := []specs.LinuxDeviceCgroup{{Allow: defaultAllow, Access: "rwm"}}
		for i := range maxDeviceRules - 1 {
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: !defaultAllow, Type: "c", Major: i64(int64(i / 256)), Minor: i64(int64(i % 256)), Access: "rw"})
		}
		list, err := compileDeviceRules(rules)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := loadDeviceProgram(deviceProgram(list))
		if err != nil {
			t.Fatalf("default allow %v: %v", defaultAllow, err)
		}
		unix.Close(fd)
	}
}

// The verifier gives up on a load when a signal is pending; loads under
// frequent SIGURG, the Go runtime's preemption signal, still succeed.
func TestKernelDeviceProgramLoadsUnderSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	// A container's usual rules: deny all, then a few dozen devices.
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for i := range 32 {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(int64(i)), Access: "rwm"})
	}
	list, err := compileDeviceRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	prog := deviceProgram(list)
	// Signal about every four loads' time, however fast this machine
	// verifies: about a quarter of the loads are interrupted.
	start := time.Now()
	fd, err := loadDeviceProgram(prog)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	period := 4 * time.Since(start)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Every thread of the process: the loading one among them.
			entries, _ := os.ReadDir("/proc/self/task")
			for _, e := range entries {
				if tid, err := strconv.Atoi(e.Name()); err == nil {
					_ = unix.Tgkill(os.Getpid(), tid, unix.SIGURG)
				}
			}
			time.Sleep(period)
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 100 {
		fd, err := loadDeviceProgram(prog)
		if err != nil {
			t.Fatalf("load %d under signals: %v", i, err)
		}
		unix.Close(fd)
	}
}
