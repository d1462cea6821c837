package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The seven namespace types every container runtime must handle.
var sevenNamespaces = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
	specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace,
}

func nsLink(t *testing.T, pid int, typ specs.LinuxNamespaceType) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, nsKinds[typ].proc))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// userSpec gives spec a new user namespace mapping root to 100000.
func userSpec(spec *specs.Spec) {
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func TestNewNamespaces(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sleep", "100")
	userSpec(spec)
	st := startContainer(t, rt, "newns", spec)
	for _, typ := range sevenNamespaces {
		if got, host := nsLink(t, st.Pid, typ), nsLink(t, os.Getpid(), typ); got == host {
			t.Errorf("%s namespace %s is the host's", typ, got)
		}
	}
	uidMap, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%10d %10d %10d\n", 0, 100000, 65536); string(uidMap) != want {
		t.Errorf("uid_map %q, want %q", uidMap, want)
	}
}

func TestJoinNamespaces(t *testing.T) {
	rt := newTestRuntime(t)
	owner := startContainer(t, rt, "owner", testSpec(t, "sleep", "100"))
	userSpecOwner := testSpec(t, "sleep", "100")
	userSpecOwner.Linux.CgroupsPath += "-user"
	userSpec(userSpecOwner)
	userOwner := startContainer(t, rt, "userowner", userSpecOwner)
	for _, typ := range sevenNamespaces {
		if typ == specs.MountNamespace {
			// root.path is resolved in the joined mount namespace,
			// where the owner's pivot_root hides the host's paths:
			// TestJoinMountAndUTSNamespaceByPath joins one that has them.
			continue
		}
		t.Run(string(typ), func(t *testing.T) {
			from := owner.Pid
			spec := testSpec(t, "sleep", "100")
			if typ == specs.UserNamespace {
				from = userOwner.Pid
			}
			path := fmt.Sprintf("/proc/%d/ns/%s", from, nsKinds[typ].proc)
			found := false
			for i, ns := range spec.Linux.Namespaces {
				if ns.Type == typ {
					spec.Linux.Namespaces[i].Path, found = path, true
				}
			}
			if !found {
				spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
			}
			if typ == specs.UTSNamespace {
				spec.Hostname = ""
			}
			st := startContainer(t, rt, "join-"+string(typ), spec)
			if got, want := nsLink(t, st.Pid, typ), nsLink(t, from, typ); got != want {
				t.Errorf("joined %s namespace is %s, want %s", typ, got, want)
			}
			// The other namespaces are new.
			for _, other := range sevenNamespaces {
				if other == typ || other == specs.UserNamespace {
					continue
				}
				if nsLink(t, st.Pid, other) == nsLink(t, from, other) {
					t.Errorf("joining %s also shares the %s namespace", typ, other)
				}
			}
		})
	}
}

// TestInitIsNotDumpable checks that a created container's init, which still
// holds descriptors of the host, cannot be inspected by a process with the
// same uid and capabilities but without CAP_SYS_PTRACE, as a container's
// root is (CVE-2016-9962). Once the init executes the container's process,
// that process is dumpable again.
func TestInitIsNotDumpable(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to drop CAP_SYS_PTRACE")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	withoutPtrace := func(args ...string) *exec.Cmd {
		return exec.Command(setpriv, append([]string{"--bounding-set", "-sys_ptrace", "--"}, args...)...)
	}
	// The kernel lets a process read the /proc/<pid>/environ of a process
	// with the same uid and no more capabilities only if that one is
	// dumpable.
	readEnviron := func(pid int) error {
		if out, err := withoutPtrace("cat", fmt.Sprintf("/proc/%d/environ", pid)).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	observable := func() bool {
		dumpable := withoutPtrace("sleep", "60")
		nonDumpable := withoutPtrace(self)
		nonDumpable.Env = append(os.Environ(), "CRISP_TEST_NONDUMPABLE=1")
		for _, c := range []*exec.Cmd{dumpable, nonDumpable} {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
		}
		time.Sleep(200 * time.Millisecond) // let the second make itself non-dumpable
		return readEnviron(dumpable.Process.Pid) == nil && readEnviron(nonDumpable.Process.Pid) != nil
	}
	if !observable() {
		t.Skip("this kernel does not let dumpability decide access to /proc/<pid>/environ here: it cannot be observed")
	}

	rt := newTestRuntime(t)
	spec := testSpec(t, "sleep", "100")
	// No more capabilities than the observer, so that only dumpability
	// decides.
	caps := []string{"CAP_KILL"}
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	createContainer(t, rt, "nodump", spec, nil)
	st, err := rt.State(context.Background(), "nodump")
	if err != nil {
		t.Fatal(err)
	}
	if err := readEnviron(st.Pid); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("reading the created init's environ without CAP_SYS_PTRACE: %v, want permission denied", err)
	}
	if err := rt.Start(context.Background(), "nodump"); err != nil {
		t.Fatal(err)
	}
	if err := readEnviron(st.Pid); err != nil {
		t.Errorf("reading the running process's environ: %v, want it readable", err)
	}
}

// mountsUnder lists the mounts of the caller's namespace at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for mp := range parseMountinfo(string(data)) {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append(found, mp)
		}
	}
	return found
}

// A container whose spec lists no namespaces inherits every one of the
// runtime's, the mount namespace too: its root is root.path all the same,
// with its mounts, and none of them shows in the runtime's mount table,
// while the container runs or after.
func TestInheritedNamespaces(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sleep", "100")
	spec.Linux.Namespaces = nil
	spec.Hostname = ""
	st := startContainer(t, rt, "inherit", spec)
	for _, typ := range sevenNamespaces {
		if got, host := nsLink(t, st.Pid, typ), nsLink(t, os.Getpid(), typ); got != host {
			t.Errorf("%s namespace %s, want the runtime's %s", typ, got, host)
		}
	}
	if left := mountsUnder(t, spec.Root.Path); len(left) > 0 {
		t.Errorf("the container's mounts are in the runtime's mount table: %v", left)
	}

	// The process's root is the rootfs with its mounts, and so is an
	// exec's.
	out := newOutputPipe(t)
	proc := &specs.Process{Args: []string{"sh", "-c", "ls /bin/busybox && cat /proc/self/comm && readlink /proc/self/ns/mnt"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
	p, err := rt.Exec(context.Background(), "inherit", proc, ExecOptions{Stdout: out.w, Stderr: out.w})
	if err != nil {
		t.Fatal(err)
	}
	if es, err := p.Wait(); err != nil || es.Code != 0 {
		t.Fatalf("exec: %+v %v: %s", es, err, out.text(t))
	}
	if got, want := out.text(t), "/bin/busybox\ncat\n"+nsLink(t, os.Getpid(), specs.MountNamespace)+"\n"; got != want {
		t.Errorf("exec output %q, want %q", got, want)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/proc/self", st.Pid)); err != nil {
		t.Errorf("the container has no /proc of its own: %v", err)
	}
	if err := rt.Delete(context.Background(), "inherit", true); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, spec.Root.Path); len(left) > 0 {
		t.Errorf("mounts left behind: %v", left)
	}
}

// A hostname for the runtime's own uts namespace is refused: it would
// rename the host.
func TestHostnameNeedsUTSNamespace(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "true")
	spec.Linux.Namespaces = nil
	err := rt.Create(context.Background(), "hostname", writeBundle(t, spec), CreateOptions{})
	if err == nil {
		_ = rt.Delete(context.Background(), "hostname", true)
		t.Fatal("a hostname without a uts namespace was accepted")
	}
	if !strings.Contains(err.Error(), "hostname") {
		t.Errorf("error %v does not name hostname", err)
	}
}

// Joining a mount and a uts namespace by path, as `unshare` makes them:
// the container's root is root.path, resolved in the joined namespace,
// where none of its mounts stays; its hostname is set in the joined uts
// namespace, as runc does.
func TestJoinMountAndUTSNamespaceByPath(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux) to make the namespaces to join")
	}
	holder := exec.Command("unshare", "--mount", "--uts", "sleep", "100")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	pid := holder.Process.Pid
	// unshare executes sleep once its namespaces are made.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare did not execute sleep")
		}
	}

	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", "ls /bin/busybox; hostname; readlink /proc/self/ns/mnt; readlink /proc/self/ns/uts")
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.MountNamespace || ns.Type == specs.UTSNamespace {
			spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", pid, nsKinds[ns.Type].proc)
		}
	}
	spec.Hostname = "joined"
	out, es := runToExit(t, rt, spec)
	want := "/bin/busybox\njoined\n" + nsLink(t, pid, specs.MountNamespace) + "\n" + nsLink(t, pid, specs.UTSNamespace) + "\n"
	if es.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q: the rootfs's busybox, the hostname and the joined namespaces", es, out, want)
	}
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for mp := range parseMountinfo(string(mountinfo)) {
		if strings.HasPrefix(mp, spec.Root.Path) {
			t.Errorf("mount %s left in the joined namespace", mp)
		}
	}
}

// A container in the runtime's mount namespace that fails half-way through
// its mounts leaves none of them there.
func TestInheritedMountNamespaceFailureLeavesNoMounts(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "true")
	spec.Linux.Namespaces = nil
	spec.Hostname = ""
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/broken", Type: "crisp-no-such-fs", Source: "none"})
	err := rt.Create(context.Background(), "inherit-fail", writeBundle(t, spec), CreateOptions{})
	if err == nil {
		_ = rt.Delete(context.Background(), "inherit-fail", true)
		t.Fatal("a mount of an unknown file system type succeeded")
	}
	if !strings.Contains(err.Error(), "crisp-no-such-fs") {
		t.Errorf("error %v does not name the mount", err)
	}
	if left := mountsUnder(t, spec.Root.Path); len(left) > 0 {
		t.Errorf("mounts left behind: %v", left)
	}
}

// The root of a new user namespace maps to an unprivileged host user, who
// cannot enter a bundle directory closed to others (0700, as runtime-tools
// and many callers make them): the rootfs reaches the container all the
// same, with /proc and /sys inside, through the caller's copy of it.
func TestUserNamespaceRootfsInClosedBundle(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", "ls /bin/busybox; cat /proc/self/uid_map; ls -d /sys/kernel")
	userSpec(spec)
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(closed, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(spec.Root.Path, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	spec.Root.Path = rootfs
	out, es := runToExit(t, rt, spec)
	want := "/bin/busybox\n" + fmt.Sprintf("%10d %10d %10d\n", 0, 100000, 65536) + "/sys/kernel\n"
	if es.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q", es, out, want)
	}
}
