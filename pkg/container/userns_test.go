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
	"time"

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
	return e.usernsPodPID(t, name, sandbox.ModeContainer)
}

// usernsPodPID is usernsPod with the pod's PID namespace mode.
func (e *env) usernsPodPID(t *testing.T, name string, pidMode sandbox.NamespaceMode) *sandbox.Sandbox {
	t.Helper()
	if err := e.images.SupportsIDMappedLayers(); err != nil {
		t.Skipf("needs idmapped image layers: %v", err)
	}
	maps := []sandbox.IDMapping{{ContainerID: 0, HostID: usernsHostRoot, Size: 65536}}
	sb, err := e.pods.Run(context.Background(), sandbox.Spec{
		Metadata:     sandbox.Metadata{Name: name, Namespace: "default", UID: "uid-" + name},
		Hostname:     name,
		LogDirectory: filepath.Join(e.logs, name),
		PIDMode:      pidMode,
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
	// An exec joins the same user namespace.
	stdout, stderr, code, err := e.m.ExecSync(context.Background(), c.ID, []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}, 10*time.Second)
	if got := strings.Join(strings.Fields(string(stdout)), " "); err != nil || code != 0 || got != fmt.Sprintf("0 0 %d 65536", usernsHostRoot) {
		t.Errorf("exec: %q %q, exit %d, %v; want root with the pod's map", stdout, stderr, code, err)
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
	// Removing the pod removes its containers, their idmapped layers and
	// every pin, the user namespace's too.
	if err := e.pods.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, e)
	for _, dir := range []string{"ns", "pods"} {
		if m := mountsUnder(t, filepath.Join(e.state, dir)); len(m) != 0 {
			t.Errorf("mounts left under the state directory: %v", m)
		}
	}
	if _, err := os.Lstat(sb.Namespaces[sandbox.NamespaceUser]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("user namespace pin left: %v", err)
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

// A hostPath volume of a user-namespaced pod is an idmapped mount: the
// pod's root owns the host root's files in it and what it writes belongs
// to the host's root on the host, as without a user namespace. On-disk ids
// read as the pod's ids: host uid 4242's file is the pod's uid 4242's, and
// a file of an id beyond the pod's 65536 is nobody's. The same with the
// volume carrying the pod's maps as its own, as kubelet sends it.
func TestUserNamespaceVolumeKeepsHostOwners(t *testing.T) {
	t.Run("no maps", func(t *testing.T) { testUserNamespaceVolume(t, false) })
	t.Run("the pod's maps", func(t *testing.T) { testUserNamespaceVolume(t, true) })
}

func testUserNamespaceVolume(t *testing.T, kubeletMaps bool) {
	e := newEnv(t)
	sb := e.usernsPod(t, "usernsvol")
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "host-root"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "host-user"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(vol, "host-user"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "unmapped"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(vol, "unmapped"), 70000, 70000); err != nil {
		t.Fatal(err)
	}
	cfg := config("vol", `stat -c '%n %u:%g' /vol/host-root /vol/host-user /vol/unmapped; echo data > /vol/written && mkdir /vol/dir && echo wrote; echo ready; sleep 1000`)
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/vol", HostPath: vol}}
	if kubeletMaps {
		maps := []*runtimeapi.IDMapping{{ContainerId: 0, HostId: usernsHostRoot, Length: 65536}}
		cfg.Mounts[0].UidMappings, cfg.Mounts[0].GidMappings = maps, maps
	}
	c := e.run(t, sb, cfg)
	waitLog(t, c.LogPath, "ready")
	out := logLines(t, c.LogPath)
	for _, want := range []string{"/vol/host-root 0:0", "/vol/host-user 4242:4242", "/vol/unmapped 65534:65534", "wrote"} {
		if !slices.Contains(out, want) {
			t.Errorf("container output lacks the line %q:\n%s", want, strings.Join(out, "\n"))
		}
	}
	for name, want := range map[string]uint32{"written": 0, "dir": 0, "host-user": 4242, "host-root": 0, "unmapped": 70000} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(vol, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != want || st.Gid != want {
			t.Errorf("%s is owned by %d:%d on the host, want %d:%d", name, st.Uid, st.Gid, want, want)
		}
	}
}

// A volume whose file system the kernel cannot idmap fails the container,
// naming the mount and what is missing, and leaves nothing behind; it is
// never mounted with the host's owners unmapped.
func TestUserNamespaceVolumeWithoutIDMapIsRefused(t *testing.T) {
	e := newEnv(t)
	sb := e.usernsPod(t, "usernsnoidmap")
	// overlay cannot be idmapped itself (only its layers can).
	dir := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := filepath.Join(dir, "m")
	opts := fmt.Sprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", dir, dir, dir)
	if err := unix.Mount("overlay", m, "overlay", 0, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(m, unix.MNT_DETACH) })
	cfg := config("noidmap", "true")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/vol", HostPath: m}}
	_, err := e.m.Create(context.Background(), sb.ID, cfg)
	if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "mounts[") || !strings.Contains(err.Error(), "overlay") {
		t.Fatalf("Create with an overlay volume in a user-namespaced pod: %v, want not implemented naming the mount and overlay", err)
	}
	if list := e.m.List(); len(list) != 0 {
		t.Errorf("a refused container is listed: %v", list)
	}
}

// A container cannot leave its pod's user namespace, nor ask for one its
// pod does not have.
func TestContainerUserNamespaceModes(t *testing.T) {
	e := newEnv(t)
	plain := e.pod(t, "plainpod", sandbox.ModeContainer)
	userns := e.usernsPod(t, "usernsmodes")
	for _, tc := range []struct {
		pod  *sandbox.Sandbox
		mode runtimeapi.NamespaceMode
	}{
		{plain, runtimeapi.NamespaceMode_POD},
		{userns, runtimeapi.NamespaceMode_NODE},
		{userns, runtimeapi.NamespaceMode_CONTAINER},
		{plain, runtimeapi.NamespaceMode_TARGET},
	} {
		cfg := config("modes", "true")
		cfg.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: tc.mode}}
		_, err := e.m.Create(context.Background(), tc.pod.ID, cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "userns_options.mode") {
			t.Errorf("userns mode %s in pod %s: %v, want invalid userns_options.mode", tc.mode, tc.pod.Spec.Metadata.Name, err)
		}
	}
}

// Where the image store cannot idmap image layers, a container of a
// user-namespaced pod is refused, naming what is missing, and nothing of
// it is left: the layers are never chowned instead.
func TestUserNamespaceWithoutIDMappedLayersIsRefused(t *testing.T) {
	e := newEnv(t)
	sb := e.usernsPod(t, "usernsnolayers")
	// go.podman.io/storage's switch that makes its overlay driver behave
	// as on a kernel without idmapped layers.
	t.Setenv("_CONTAINERS_OVERLAY_DISABLE_IDMAP", "yes")
	_, err := e.m.Create(context.Background(), sb.ID, config("nolayers", "true"))
	if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "idmapped") {
		t.Fatalf("Create without idmapped layers: %v, want not implemented naming idmapped layers", err)
	}
	assertNothingLeft(t, e)
}

// The containers of a user-namespaced pod that shares its PID namespace
// join it: PID 1 is the pod's reaper, and they see each other.
func TestUserNamespaceSharedPIDPod(t *testing.T) {
	e := newEnv(t)
	sb := e.usernsPodPID(t, "usernspid", sandbox.ModePod)
	a := e.run(t, sb, config("a", "echo ready; exec sleep 1001"))
	waitLog(t, a.LogPath, "ready")
	b := e.run(t, sb, config("b", "cat /proc/1/comm; cat /proc/[0-9]*/comm | grep -qx sleep && echo sees-a; id -u; echo ready; sleep 1000"))
	waitLog(t, b.LogPath, "ready")
	out := logLines(t, b.LogPath)
	for _, want := range []string{"crisp-reaper", "sees-a", "0"} {
		if !slices.Contains(out, want) {
			t.Errorf("container output lacks the line %q:\n%s", want, strings.Join(out, "\n"))
		}
	}
	if got, want := nsLink(t, b.Pid, "pid"), pinLink(t, "pid", sb.Namespaces[sandbox.NamespacePID]); got != want {
		t.Errorf("container's PID namespace %s, pod's is %s", got, want)
	}
	if got := statusIDs(t, b.Pid, "Uid"); got != fmt.Sprint(usernsHostRoot) {
		t.Errorf("container process runs as host uid %s, want %d", got, usernsHostRoot)
	}
}
