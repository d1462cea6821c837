package spec

import (
	"errors"
	"fmt"
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

func TestUserNamespacesNotImplemented(t *testing.T) {
	for _, mode := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_CONTAINER} {
		c := testContainer(t, func(c *Container) {
			sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: mode}}
		})
		_, err := Build(c)
		if !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("userns mode %s: error %v, want not implemented", mode, err)
		}
	}
	c := testContainer(t, func(c *Container) {
		sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}}
	})
	if _, err := Build(c); err != nil {
		t.Errorf("userns mode NODE: %v", err)
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
