package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// usernsHostRoot is the host uid and gid the pods' root maps to in these
// tests, as kubelet allots a pod 65536 ids from a multiple of 65536.
const usernsHostRoot = 1 << 20

// usernsPod runs a pod with its own user namespace, or skips the test when
// the kernel cannot idmap the container's overlay rootfs.
func (e *env) usernsPod(t *testing.T, name string) *sandbox.Sandbox {
	t.Helper()
	if err := e.images.SupportsIDMappedLayers(); err != nil {
		t.Skipf("needs idmapped image layers: %v", err)
	}
	maps := []sandbox.IDMapping{{ContainerID: 0, HostID: usernsHostRoot, Size: 65536}}
	sb, err := e.pods.Run(context.Background(), sandbox.Spec{
		Metadata:     sandbox.Metadata{Name: name, Namespace: "default", UID: "uid-" + name},
		Hostname:     name,
		LogDirectory: filepath.Join(e.logs, name),
		PIDMode:      sandbox.ModeContainer,
		UserNS:       &sandbox.UserNamespace{UIDs: maps, GIDs: maps},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// logLines are the messages of a container's log, their fields joined by
// single spaces.
func logLines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, line := range readLog(t, path) {
		// "<time> <stream> <tag> <message>"
		if f := strings.Fields(line); len(f) > 3 {
			out = append(out, strings.Join(f[3:], " "))
		}
	}
	return out
}

// statusIDs is the first (real) id of the Uid: or Gid: line of process pid.
func statusIDs(t *testing.T, pid int, key string) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

// A container of a pod with its own user namespace is root inside and an
// unprivileged uid on the host, joins the pod's user namespace, which owns
// the pod's network, IPC and UTS namespaces, sees the pod's maps, owns its
// image's files and can write to them, its /dev/shm and /tmp; /proc and
// /sys are mounted.
func TestUserNamespacePod(t *testing.T) {
	e := newEnv(t)
	sb := e.usernsPod(t, "userns")
	cfg := config("userns", `id; cat /proc/self/uid_map /proc/self/gid_map; stat -c 'etc %u:%g' /etc;
echo x > /etc/written && echo wrote etc; echo y > /dev/shm/f && echo wrote shm; touch /tmp/t && echo wrote tmp;
test -r /etc/resolv.conf && echo resolv; hostname; test -e /proc/self/status && echo proc; test -d /sys/kernel && echo sys;
echo ready; sleep 1000`)
	c := e.run(t, sb, cfg)
	waitLog(t, c.LogPath, "ready")
	out := logLines(t, c.LogPath)
	for _, want := range []string{"uid=0(root) gid=0(root) groups=0(root)", fmt.Sprintf("0 %d 65536", usernsHostRoot), "etc 0:0",
		"wrote etc", "wrote shm", "wrote tmp", "resolv", "userns", "proc", "sys"} {
		if !slices.Contains(out, want) {
			t.Errorf("container output lacks the line %q:\n%s", want, strings.Join(out, "\n"))
		}
	}
	host := fmt.Sprint(usernsHostRoot)
	if got := statusIDs(t, c.Pid, "Uid"); got != host {
		t.Errorf("container process runs as host uid %s, want %s", got, host)
	}
	if got := statusIDs(t, c.Pid, "Gid"); got != host {
		t.Errorf("container process runs as host gid %s, want %s", got, host)
	}
	for _, kind := range []sandbox.NamespaceKind{sandbox.NamespaceUser, sandbox.NamespaceNet, sandbox.NamespaceIPC, sandbox.NamespaceUTS} {
		if got, want := nsLink(t, c.Pid, string(kind)), pinLink(t, string(kind), sb.Namespaces[kind]); got != want {
			t.Errorf("container's %s namespace %s, pod's is %s", kind, got, want)
		}
	}
	// The pod's network namespace belongs to its user namespace.
	owner := nsOwner(t, sb.Namespaces[sandbox.NamespaceNet])
	if want := pinLink(t, "user", sb.Namespaces[sandbox.NamespaceUser]); owner != want {
		t.Errorf("pod's network namespace is owned by %s, want the pod's %s", owner, want)
	}
}

// nsOwner is the user namespace owning the namespace at path, in the form
// of nsLink.
func nsOwner(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const nsGetUserns = 0xb701 // NS_GET_USERNS
	fd, err := unix.IoctlRetInt(int(f.Fd()), nsGetUserns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("user:[%d]", st.Ino)
}

var _ = errors.Is
var _ = errdefs.ErrNotImplemented
var _ runtimeapi.NamespaceMode
