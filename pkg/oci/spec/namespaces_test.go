package spec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

func TestBuildNamespaces(t *testing.T) {
	const (
		net, ipc, uts, pid = "/pins/net", "/pins/ipc", "/pins/uts", "/pins/pid"
		target             = "/proc/42/ns/pid"
	)
	pod := Pod{NetNS: net, IPCNS: ipc, UTSNS: uts}
	hostPod := Pod{HostPID: true}
	sharedPod := Pod{NetNS: net, IPCNS: ipc, UTSNS: uts, PIDNS: pid}
	for _, tc := range []struct {
		name   string
		pod    Pod
		mode   runtimeapi.NamespaceMode
		target string
		want   string // type=path pairs; "" path is a new namespace
		field  string
	}{
		{"pod mode, own pid", pod, runtimeapi.NamespaceMode_POD, "", "network=/pins/net ipc=/pins/ipc uts=/pins/uts pid= mount= cgroup=", ""},
		{"pod mode, shared pid", sharedPod, runtimeapi.NamespaceMode_POD, "", "network=/pins/net ipc=/pins/ipc uts=/pins/uts pid=/pins/pid mount= cgroup=", ""},
		{"container mode", sharedPod, runtimeapi.NamespaceMode_CONTAINER, "", "network=/pins/net ipc=/pins/ipc uts=/pins/uts pid= mount= cgroup=", ""},
		{"host pod", hostPod, runtimeapi.NamespaceMode_NODE, "", "mount= cgroup=", ""},
		{"host pod, pod mode", hostPod, runtimeapi.NamespaceMode_POD, "", "mount= cgroup=", ""},
		{"node mode in a pod of its own", pod, runtimeapi.NamespaceMode_NODE, "", "", "linux.security_context.namespace_options.pid"},
		{"target", pod, runtimeapi.NamespaceMode_TARGET, target, "network=/pins/net ipc=/pins/ipc uts=/pins/uts pid=/proc/42/ns/pid mount= cgroup=", ""},
		{"target without namespace", pod, runtimeapi.NamespaceMode_TARGET, "", "", "linux.security_context.namespace_options.target_id"},
		{"unknown mode", pod, 9, "", "", "linux.security_context.namespace_options.pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testContainer(t, func(c *Container) {
				c.Pod, c.TargetPIDNS = tc.pod, tc.target
				sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{Pid: tc.mode, TargetId: "other"}
			})
			nss, err := buildNamespaces(c)
			checkFieldError(t, err, tc.field)
			if got := nsString(nss); got != tc.want {
				t.Errorf("namespaces %q, want %q", got, tc.want)
			}
		})
	}
}

// A container joins its pod's user namespace, with the pod's maps, and
// its config.mounts are idmapped through it; it can neither leave it nor
// ask for one its pod does not have.
func TestUserNamespaces(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1 << 20, Size: 65536}}
	usernsPod := func(c *Container) {
		c.Pod.UserNS = "/run/crisp/ns/user/pod"
		c.Pod.UIDMappings, c.Pod.GIDMappings = maps, maps
	}
	for _, tc := range []struct {
		name  string
		pod   func(*Container)
		mode  runtimeapi.NamespaceMode
		field string
	}{
		{"POD without a pod user namespace", func(*Container) {}, runtimeapi.NamespaceMode_POD, "linux.security_context.namespace_options.userns_options.mode"},
		{"CONTAINER", func(*Container) {}, runtimeapi.NamespaceMode_CONTAINER, "linux.security_context.namespace_options.userns_options.mode"},
		{"TARGET", usernsPod, runtimeapi.NamespaceMode_TARGET, "linux.security_context.namespace_options.userns_options.mode"},
		{"NODE in a pod user namespace", usernsPod, runtimeapi.NamespaceMode_NODE, "linux.security_context.namespace_options.userns_options.mode"},
	} {
		c := testContainer(t, func(c *Container) {
			tc.pod(c)
			sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: tc.mode}}
		})
		_, err := Build(c)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	c := testContainer(t, func(c *Container) {
		sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}}
	})
	s, err := Build(c)
	if err != nil {
		t.Fatalf("userns mode NODE: %v", err)
	}
	if len(s.Linux.UIDMappings) != 0 || strings.Contains(nsString(s.Linux.Namespaces), "user") {
		t.Errorf("a container of a pod on the host's user namespace has %s and maps %v", nsString(s.Linux.Namespaces), s.Linux.UIDMappings)
	}
	c = testContainer(t, func(c *Container) {
		usernsPod(c)
		sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}}
		c.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/"}}
	})
	s, err = Build(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nsString(s.Linux.Namespaces), "user=/run/crisp/ns/user/pod") {
		t.Errorf("namespaces %s do not join the pod's user namespace", nsString(s.Linux.Namespaces))
	}
	if !reflect.DeepEqual(s.Linux.UIDMappings, maps) || !reflect.DeepEqual(s.Linux.GIDMappings, maps) {
		t.Errorf("maps %v %v, want the pod's %v", s.Linux.UIDMappings, s.Linux.GIDMappings, maps)
	}
	for _, m := range s.Mounts {
		idmapped := len(m.UIDMappings) > 0
		if want := m.Destination == "/data"; idmapped != want {
			t.Errorf("mount %s idmapped: %v, want %v", m.Destination, idmapped, want)
		}
	}
}

// kubelet sends each volume of a hostUsers: false pod with the pod's maps:
// taken, and idmapped through the pod's user namespace. Other maps, or maps
// in a pod without a user namespace, are refused.
func TestMountIDMappings(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1 << 20, Size: 65536}}
	criMaps := func(host uint32) []*runtimeapi.IDMapping {
		return []*runtimeapi.IDMapping{{ContainerId: 0, HostId: host, Length: 65536}}
	}
	build := func(userns bool, uids, gids []*runtimeapi.IDMapping) (*specs.Spec, error) {
		return Build(testContainer(t, func(c *Container) {
			if userns {
				c.Pod.UserNS = "/run/crisp/ns/user/pod"
				c.Pod.UIDMappings, c.Pod.GIDMappings = maps, maps
				sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}}
			}
			c.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/", UidMappings: uids, GidMappings: gids}}
		}))
	}
	s, err := build(true, criMaps(1<<20), criMaps(1<<20))
	if err != nil {
		t.Fatalf("a volume with the pod's maps: %v", err)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/data" && (!reflect.DeepEqual(m.UIDMappings, maps) || !reflect.DeepEqual(m.GIDMappings, maps)) {
			t.Errorf("volume maps %v %v, want the pod's %v", m.UIDMappings, m.GIDMappings, maps)
		}
	}
	for _, tc := range []struct {
		name       string
		userns     bool
		uids, gids []*runtimeapi.IDMapping
		field      string
	}{
		{"no pod user namespace", false, criMaps(1 << 20), criMaps(1 << 20), "mounts[0].uid_mappings"},
		{"other uid maps", true, criMaps(2 << 20), criMaps(1 << 20), "mounts[0].uid_mappings"},
		{"other gid maps", true, criMaps(1 << 20), criMaps(2 << 20), "mounts[0].gid_mappings"},
		{"uid maps only", true, criMaps(1 << 20), nil, "mounts[0].gid_mappings"},
		{"gid maps only", true, nil, criMaps(1 << 20), "mounts[0].uid_mappings"},
	} {
		_, err := build(tc.userns, tc.uids, tc.gids)
		if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want not implemented naming %s", tc.name, err, tc.field)
		}
	}
}

func nsString(nss []specs.LinuxNamespace) string {
	s := ""
	for i, ns := range nss {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%s", ns.Type, ns.Path)
	}
	return s
}
