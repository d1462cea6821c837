package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

const (
	testPasswd = `root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
`
	testGroup = `root:x:0:
wheel:x:10:alice
video:x:44:alice,bob
alice:x:1000:
bob:x:1001:
`
)

// testRootfs makes a rootfs holding /etc/passwd and /etc/group.
func testRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// testContainer is a container of a pod with its own namespaces running
// "sh" in a rootfs with users; edit changes its config.
func testContainer(t *testing.T, edit func(c *Container)) *Container {
	t.Helper()
	c := &Container{
		ID: "c1",
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
		},
		Pod: Pod{
			ID: "p1", Name: "pod", Namespace: "default", UID: "uid-1",
			NetNS: "/run/crisp/ns/net/p1", IPCNS: "/run/crisp/ns/ipc/p1", UTSNS: "/run/crisp/ns/uts/p1",
		},
		Image:       &imgspecv1.ImageConfig{Cmd: []string{"sh"}},
		ImageName:   "busybox",
		ImageRef:    "sha256:0123",
		Rootfs:      testRootfs(t),
		CgroupsPath: "/kubepods/p1/c1",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sc returns c's security context.
func sc(c *Container) *runtimeapi.LinuxContainerSecurityContext {
	return c.Config.Linux.SecurityContext
}

// checkFieldError fails unless err is an InvalidField error naming field
// (or, with want "" , unless err is nil).
func checkFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want an invalid %s", err, field)
	}
	if fe.Field != field {
		t.Fatalf("error names %q (%v), want %q", fe.Field, err, field)
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("error %v is not an invalid argument", err)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(c *Container)
		field string
	}{
		{"privileged in an unprivileged pod", func(c *Container) { sc(c).Privileged = true }, "linux.security_context.privileged"},
		{"no config", func(c *Container) { c.Config = nil }, "config"},
		{"unknown added capability", func(c *Container) {
			sc(c).Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"CHOWN", "KILL", "FLY"}}
		}, "linux.security_context.capabilities.add_capabilities[2]"},
		{"no command", func(c *Container) { c.Image = nil }, "command"},
		{"relative mount source", func(c *Container) {
			c.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "data"}}
		}, "mounts[0].host_path"},
		{"unknown user", func(c *Container) { sc(c).RunAsUsername = "mallory" }, "linux.security_context.run_as_username"},
		{"bad unified key", func(c *Container) {
			c.Config.Linux.Resources = &runtimeapi.LinuxContainerResources{Unified: map[string]string{"../x": "1"}}
		}, "linux.resources.unified[../x]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(testContainer(t, tc.edit))
			if err == nil {
				t.Fatal("Build succeeded")
			}
			checkFieldError(t, err, tc.field)
		})
	}
}

// TestBuildMinimalConfig builds a config with nothing but a command: every
// optional message is nil.
func TestBuildMinimalConfig(t *testing.T) {
	c := &Container{ID: "c", Config: &runtimeapi.ContainerConfig{Command: []string{"/bin/true"}}, Rootfs: t.TempDir()}
	s, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.User.UID != 0 || s.Process.Cwd != "/" || len(s.Process.Capabilities.Bounding) == 0 || s.Linux.Seccomp != nil {
		t.Errorf("process %+v, seccomp %v; want root in / with the default capabilities, unconfined", s.Process, s.Linux.Seccomp)
	}
	if s.Linux.Resources == nil || len(s.Linux.Resources.Devices) != 1 {
		t.Errorf("resources %+v, want the deny-all device rule only", s.Linux.Resources)
	}
}

func TestBuildRootAndCgroup(t *testing.T) {
	c := testContainer(t, func(c *Container) { sc(c).ReadonlyRootfs = true })
	s, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root.Path != c.Rootfs || !s.Root.Readonly {
		t.Errorf("root = %+v, want %s read-only", s.Root, c.Rootfs)
	}
	if s.Linux.CgroupsPath != c.CgroupsPath {
		t.Errorf("cgroupsPath = %q, want %q", s.Linux.CgroupsPath, c.CgroupsPath)
	}
	if s.Hostname != "" || len(s.Linux.Sysctl) != 0 {
		t.Errorf("hostname %q, sysctls %v; want none (the pod's)", s.Hostname, s.Linux.Sysctl)
	}
	if s.Version == "" {
		t.Error("no ociVersion")
	}
}
