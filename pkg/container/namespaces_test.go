package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// nsLink is the namespace of kind that process pid is in ("net:[4026...]").
func nsLink(t *testing.T, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// pinLink is the namespace a pin holds, in the form of nsLink.
func pinLink(t *testing.T, kind, pin string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(pin, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:[%d]", kind, st.Ino)
}

// nsPids is the NSpid line of process pid: its pid in each nested PID
// namespace, outermost first.
func nsPids(t *testing.T, pid int) []string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", pid)
	return nil
}

func TestContainerJoinsPodNamespaces(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "ns", sandbox.ModeContainer)
	c := e.run(t, sb, config("ns", "echo ready; sleep 1000"))
	waitLog(t, c.LogPath, "ready")
	for _, kind := range []sandbox.NamespaceKind{sandbox.NamespaceNet, sandbox.NamespaceIPC, sandbox.NamespaceUTS} {
		if got, want := nsLink(t, c.Pid, string(kind)), pinLink(t, string(kind), sb.Namespaces[kind]); got != want {
			t.Errorf("container's %s namespace %s, pod's is %s", kind, got, want)
		}
	}
	self := os.Getpid()
	for _, kind := range []string{"mnt", "pid", "cgroup"} {
		if got := nsLink(t, c.Pid, kind); got == nsLink(t, self, kind) {
			t.Errorf("container shares the %s namespace %s of the host", kind, got)
		}
	}
	if pids := nsPids(t, c.Pid); len(pids) != 2 || pids[1] != "1" {
		t.Errorf("container init's NSpid %v, want pid 1 of its own namespace", pids)
	}
}

func TestSharedPIDPod(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "sharedpid", sandbox.ModePod)
	a := e.run(t, sb, config("a", "echo ready; sleep 1000"))
	b := e.run(t, sb, config("b", "echo ready; sleep 1000"))
	waitLog(t, a.LogPath, "ready")
	waitLog(t, b.LogPath, "ready")
	want := pinLink(t, "pid", sb.Namespaces[sandbox.NamespacePID])
	for _, c := range []*Container{a, b} {
		if got := nsLink(t, c.Pid, "pid"); got != want {
			t.Errorf("container %s's PID namespace %s, pod's is %s", c.Metadata.Name, got, want)
		}
		// The pod's reaper is pid 1 there.
		if pids := nsPids(t, c.Pid); len(pids) != 2 || pids[1] == "1" {
			t.Errorf("container %s's NSpid %v, want a pid other than 1 in the pod's namespace", c.Metadata.Name, pids)
		}
	}
}

func TestTargetPIDNamespace(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "target", sandbox.ModeContainer)
	target := e.run(t, sb, config("app", "echo ready; sleep 1000"))
	waitLog(t, target.LogPath, "ready")
	cfg := config("debug", "echo ready; sleep 1000")
	cfg.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET, TargetId: target.ID}
	debug := e.run(t, sb, cfg)
	waitLog(t, debug.LogPath, "ready")
	if got, want := nsLink(t, debug.Pid, "pid"), nsLink(t, target.Pid, "pid"); got != want {
		t.Errorf("debug container's PID namespace %s, target's is %s", got, want)
	}
	// A target that no longer runs has no PID namespace to share.
	if err := e.m.Stop(context.Background(), target.ID, 0); err != nil {
		t.Fatal(err)
	}
	cfg.Metadata.Attempt = 1
	if _, err := e.m.Create(context.Background(), sb.ID, cfg); !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "target_id") {
		t.Errorf("Create targeting an exited container: %v, want failed precondition naming target_id", err)
	}
}
