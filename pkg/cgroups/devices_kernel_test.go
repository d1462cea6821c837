package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

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
