package reliability

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestLeakAccountingSeesARunningPod proves the accounting the other tests
// end with can fail: a pod with a running container, left in place when
// the daemon stops, must show up in every kind of leak it makes.
func TestLeakAccountingSeesARunningPod(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := call(t)
	defer cancel()
	cfg := e.podConfig(t, "leaky")
	pod, err := e.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: e.containerConfig("long", longScript), SandboxConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	e.waitState(t, c.ContainerId, runtimeapi.ContainerState_CONTAINER_RUNNING, 10*time.Second)
	if err := e.d.Stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("daemon exit: %v", err)
	}
	leaks, err := e.fp.Leaks()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the accounting sees %d objects of the pod", len(leaks))
	all := strings.Join(leaks, "\n")
	for _, kind := range []string{"mount ", "namespace pin ", "executor state ", "veth ", "IPAM lease ", "CNI cache ",
		"cgroup ", "storage container ", "storage layer ", "overlay dir ", "record sandboxes/", "record containers/", "process "} {
		if !strings.Contains(all, kind) {
			t.Errorf("the accounting does not see the pod's %q leaks:\n%s", kind, all)
		}
	}
	// Clean up through the daemon, as a kubelet would after a restart.
	e.d.Start(t, "--cgroup-driver", "cgroupfs")
	e.removeAll(t)
	e.checkNoLeaks(t)
}

// escapeMountinfo escapes a path as the kernel writes it in mountinfo:
// space, tab, newline and backslash as three-digit octal.
func escapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func FuzzUnescapeMountinfo(f *testing.F) {
	for _, s := range []string{"", "/run/crisp", "/tmp/a b", "/x\\y", "/tab\there", "/nl\nx", `\040`, "/crisp-hostile\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if got := unescapeMountinfo(escapeMountinfo(path)); got != path {
			t.Errorf("unescape(escape(%q)) = %q", path, got)
		}
	})
}
