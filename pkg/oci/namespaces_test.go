package oci

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
				if nsLink(t, st.Pid, other) == nsLink(t, from, other) && !(typ == specs.MountNamespace && other == specs.MountNamespace) {
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
