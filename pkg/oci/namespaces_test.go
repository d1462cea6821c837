package oci

import (
	"fmt"
	"os"
	"testing"

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
