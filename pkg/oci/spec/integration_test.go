package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/cgroups"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// The integration tests run the specs Build makes with crisp's executor:
// root, a cgroup2 mount and Debian's busybox-static are needed. The test
// binary serves as the crisp binary the executor re-executes.

// testCgroupParent holds the tests' container cgroups.
const testCgroupParent = "/crisp-spec-test"

// busyboxRootfs builds a root file system with a static busybox, a
// symlink for each applet, and the users of testPasswd and testGroup.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir's parent is 0700; the container's users must get through.
	for dir := root; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if strings.HasPrefix(dir, os.TempDir()+"/") {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, content := range map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// newRuntime returns an executor with its state in a temporary directory.
func newRuntime(t *testing.T) *oci.Runtime {
	t.Helper()
	mount := cgroups.FindMount()
	if mount == "" {
		t.Skip("needs a cgroup2 mount")
	}
	rt, err := oci.New(oci.Options{Root: t.TempDir(), CgroupMount: mount})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		_ = os.Remove(filepath.Join(mount, testCgroupParent))
	})
	return rt
}

// run builds c's spec, runs it to its end and returns its output.
func run(t *testing.T, rt *oci.Runtime, c *Container) string {
	t.Helper()
	s, err := Build(c)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	bundle := t.TempDir()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	output := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		output <- string(b)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = rt.Create(ctx, c.ID, bundle, oci.CreateOptions{Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer func() { _ = rt.Delete(context.Background(), c.ID, true) }()
	if err := rt.Start(ctx, c.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := rt.Wait(ctx, c.ID)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	out := <-output
	if st.Code != 0 {
		t.Fatalf("container exited with %d: %s", st.Code, out)
	}
	return out
}

// integrationContainer is a container in a pod on the host's network, IPC
// and UTS namespaces, running args in a busybox rootfs.
func integrationContainer(t *testing.T, rootfs string, args ...string) *Container {
	id := "spec-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return &Container{
		ID: id,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Args:     args,
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
		},
		Pod:         Pod{ID: "pod", Name: "pod", Namespace: "default", UID: "uid"},
		Image:       &imgspecv1.ImageConfig{Env: []string{"PATH=/bin"}},
		Rootfs:      rootfs,
		CgroupsPath: testCgroupParent + "/" + id,
	}
}

// TestRunUserAndGroups runs `id` as a user of the image with a
// supplemental group, a read-only root, the default seccomp profile and
// the pod's files: the executor must accept the spec and the process must
// have exactly the requested identity.
func TestRunUserAndGroups(t *testing.T) {
	rootfs := busyboxRootfs(t)
	rt := newRuntime(t)
	resolv, hosts, hostname := podFiles(t)
	c := integrationContainer(t, rootfs, "sh", "-c", "id; cat /etc/hostname; umask")
	c.Pod.ResolvConf, c.Pod.Hosts, c.Pod.Hostname = resolv, hosts, hostname
	sc := c.Config.Linux.SecurityContext
	sc.RunAsUsername = "alice"
	sc.SupplementalGroups = []int64{3000}
	sc.ReadonlyRootfs = true
	sc.NoNewPrivs = true
	sc.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	got := run(t, rt, c)
	want := "uid=1000(alice) gid=1000(alice) groups=10(wheel),44(video),1000(alice),3000\nhostname\n0022\n"
	if got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRunInPodNamespaces joins network, IPC and UTS namespaces pinned the
// way a pod's are, with a device and the image's user "uid:gid".
func TestRunInPodNamespaces(t *testing.T) {
	rootfs := busyboxRootfs(t)
	rt := newRuntime(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	pins := t.TempDir()
	for _, ns := range []string{"net", "ipc", "uts"} {
		if err := os.WriteFile(filepath.Join(pins, ns), nil, 0o444); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(filepath.Join(pins, ns), unix.MNT_DETACH) })
	}
	if out, err := exec.Command("unshare", "--net="+pins+"/net", "--ipc="+pins+"/ipc", "--uts="+pins+"/uts", "hostname", "web-0").CombinedOutput(); err != nil {
		t.Fatalf("pin namespaces: %v: %s", err, out)
	}
	c := integrationContainer(t, rootfs, "sh", "-c", "id; hostname; ip -o link | cut -d: -f2; test -c /dev/mynull && echo > /dev/mynull && echo device")
	c.Pod.NetNS, c.Pod.IPCNS, c.Pod.UTSNS = pins+"/net", pins+"/ipc", pins+"/uts"
	c.Image.User = "1001:44"
	c.Config.Devices = []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rw"}}
	got := run(t, rt, c)
	want := "uid=1001(bob) gid=44(video) groups=44(video)\nweb-0\n lo\ndevice\n"
	if got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRunPrivileged runs a privileged container: every capability crisp
// holds, the host's devices (/dev/kmsg is not one of the executor's
// standard ones) open without device rules, a writable /sys.
func TestRunPrivileged(t *testing.T) {
	rootfs := busyboxRootfs(t)
	rt := newRuntime(t)
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skipf("needs a host /dev/kmsg: %v", err)
	}
	c := integrationContainer(t, rootfs, "sh", "-c", "grep CapBnd /proc/self/status; : < /dev/kmsg && echo kmsg; grep -c ' /sys sysfs rw' /proc/self/mounts")
	c.Pod.Privileged = true
	c.Config.Linux.SecurityContext.Privileged = true
	got := run(t, rt, c)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var bnd string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "CapBnd") {
			bnd = line
		}
	}
	if want := fmt.Sprintf("%s\nkmsg\n1\n", bnd); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRunProcessAndLocalhostSeccomp checks the process the executor
// starts: working directory, environment, and a Localhost profile that
// refuses mkdir with EACCES.
func TestRunProcessAndLocalhostSeccomp(t *testing.T) {
	rootfs := busyboxRootfs(t)
	rt := newRuntime(t)
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(ociProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	c := integrationContainer(t, rootfs, "sh", "-c", `pwd; echo "$HOME $FOO $BAR"; mkdir /tmp/x 2>/dev/null || echo denied`)
	c.Image.Env = append(c.Image.Env, "FOO=image", "BAR=image")
	c.Image.WorkingDir = "/tmp"
	c.Config.Envs = []*runtimeapi.KeyValue{{Key: "FOO", Value: []byte("config")}}
	c.Config.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}
	got := run(t, rt, c)
	if want := "/tmp\n/root config image\ndenied\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}
