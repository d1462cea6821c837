package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// joinUserSpec makes spec join the user namespace of process pid, whose
// maps userSpec set, with new namespaces of every other kind.
func joinUserSpec(spec *specs.Spec, pid int) {
	userSpec(spec)
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/user", pid)
		}
	}
}

// A container joining a user namespace by path gets its bind mounts from
// the caller, which opens them even below a directory its root cannot
// enter, and idmaps the ones that ask through that namespace: there the
// host's root owns what the namespace's root owns, both ways.
func TestJoinedUserNamespaceIDMappedBind(t *testing.T) {
	rt := newTestRuntime(t)
	ownerSpec := testSpec(t, "sleep", "100")
	ownerSpec.Linux.CgroupsPath += "-owner"
	userSpec(ownerSpec)
	owner := startContainer(t, rt, "userns-owner", ownerSpec)

	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	requireIDMap(t, closed)
	mapped, plain := filepath.Join(closed, "mapped"), filepath.Join(closed, "plain")
	for _, d := range []string{mapped, plain} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Onto directories the rootfs has: its root, the host's, may not
	// create others.
	spec := testSpec(t, "sh", "-c", "stat -c '%u:%g' /tmp/f /etc/f; echo y > /tmp/new && echo wrote")
	joinUserSpec(spec, owner.Pid)
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/tmp", Type: "bind", Source: mapped, Options: []string{"rbind", "rw"},
			UIDMappings: spec.Linux.UIDMappings, GIDMappings: spec.Linux.GIDMappings},
		specs.Mount{Destination: "/etc", Type: "bind", Source: plain, Options: []string{"rbind", "ro"}})
	out, es := runToExit(t, rt, spec)
	if want := "0:0\n65534:65534\nwrote\n"; es.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q", es, out, want)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mapped, "new"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("file written through the idmapped mount is %d:%d on the host, want 0:0", st.Uid, st.Gid)
	}
}

// requireIDMap skips a test whose directory dir is on a file system the
// kernel cannot idmap (tmpfs before Linux 6.3, as in the UML guest).
func requireIDMap(t *testing.T, dir string) {
	t.Helper()
	tree, err := openBindTree(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	userns, err := mappedUserNamespace(maps, maps, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer userns.Close()
	if err := idmapTree(tree, userns, false); errors.Is(err, errdefs.ErrNotImplemented) {
		t.Skipf("needs a kernel that idmaps %s's file system: %v", dir, err)
	} else if err != nil {
		t.Fatal(err)
	}
}

// A container with a user namespace of its own gets its bind mounts from
// the caller, which opens them even below a directory the container's root
// cannot enter, and idmaps the ones that ask through a user namespace made
// with each mount's maps: the container's own maps show the host's root as
// its root, other maps as what they name.
func TestNewUserNamespaceIDMappedBind(t *testing.T) {
	rt := newTestRuntime(t)
	closed := t.TempDir()
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	requireIDMap(t, closed)
	// Sources on a shared mount, as under a systemd host's /: nothing
	// the container mounts below them may appear on the host.
	if err := unix.Mount(closed, closed, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(closed, unix.MNT_DETACH) })
	if err := unix.Mount("", closed, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	own, other, plain := filepath.Join(closed, "own"), filepath.Join(closed, "other"), filepath.Join(closed, "plain")
	for _, d := range []string{own, other, plain, filepath.Join(own, "plain")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := testSpec(t, "sh", "-c", "stat -c '%u:%g' /tmp/f /etc/f /tmp/plain/f; echo y > /tmp/new && echo wrote")
	userSpec(spec)
	// Host id 0 on the disk shows as host id 100005: the container's 5.
	fifth := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100005, Size: 1}}
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/tmp", Type: "bind", Source: own, Options: []string{"rbind", "rw"},
			UIDMappings: spec.Linux.UIDMappings, GIDMappings: spec.Linux.GIDMappings},
		specs.Mount{Destination: "/etc", Type: "bind", Source: other, Options: []string{"rbind", "ro"},
			UIDMappings: fifth, GIDMappings: fifth},
		// Not idmapped, below a directory the container's root cannot
		// enter: the caller opens it, and the host's root shows as
		// nobody.
		specs.Mount{Destination: "/tmp/plain", Type: "bind", Source: plain, Options: []string{"rbind", "ro"}})
	out, es := runToExit(t, rt, spec)
	if want := "0:0\n5:5\n65534:65534\nwrote\n"; es.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q", es, out, want)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(own, "new"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 {
		t.Errorf("file written through the idmapped mount is %d:%d on the host, want 0:0", st.Uid, st.Gid)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mountinfo), filepath.Join(own, "plain")) {
		t.Errorf("the container's mount below its bind source appeared on the host:\n%s", mountinfo)
	}
}

// Idmapped mounts crisp cannot make are refused before anything runs.
func TestIDMappedMountsRefused(t *testing.T) {
	rt := newTestRuntime(t)
	ownerSpec := testSpec(t, "sleep", "100")
	ownerSpec.Linux.CgroupsPath += "-owner"
	userSpec(ownerSpec)
	owner := startContainer(t, rt, "userns-owner", ownerSpec)
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	other := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	vol := t.TempDir()
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want error
	}{
		{"without a user namespace", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "bind", Source: vol, Options: []string{"rbind"}, UIDMappings: maps, GIDMappings: maps})
		}, errdefs.ErrNotImplemented},
		{"with the host's mount namespace", func(s *specs.Spec) {
			userSpec(s)
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == specs.MountNamespace {
					s.Linux.Namespaces = append(s.Linux.Namespaces[:i], s.Linux.Namespaces[i+1:]...)
					break
				}
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "bind", Source: vol, Options: []string{"rbind"}, UIDMappings: maps, GIDMappings: maps})
		}, errdefs.ErrNotImplemented},
		{"uid maps only", func(s *specs.Spec) {
			joinUserSpec(s, owner.Pid)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "bind", Source: vol, Options: []string{"rbind"}, UIDMappings: other})
		}, errdefs.ErrInvalidArgument},
		{"not a bind mount", func(s *specs.Spec) {
			joinUserSpec(s, owner.Pid)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "tmpfs", Source: "tmpfs", UIDMappings: maps, GIDMappings: maps})
		}, errdefs.ErrInvalidArgument},
	} {
		spec := testSpec(t, "true")
		tc.edit(spec)
		err := rt.Create(context.Background(), "refused", writeBundle(t, spec), CreateOptions{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "mounts[") {
			t.Errorf("%s: %v, want %v naming the mount", tc.name, err, tc.want)
		}
		if _, err := rt.State(context.Background(), "refused"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s: a refused container has state: %v", tc.name, err)
		}
	}
}

// A rootfs that is a shared mount (as under a systemd host's shared /)
// reaches a container in a user namespace all the same: the caller's copy
// of it would be a peer of it, which pivot_root refuses.
func TestUserNamespaceSharedRootfs(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", "cat /proc/self/uid_map")
	userSpec(spec)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(spec.Root.Path, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	if err := unix.Mount("", rootfs, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	spec.Root.Path = rootfs
	out, es := runToExit(t, rt, spec)
	if want := fmt.Sprintf("%10d %10d %10d\n", 0, 100000, 65536); es.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q", es, out, want)
	}
}
