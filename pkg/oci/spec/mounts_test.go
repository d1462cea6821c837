package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podFiles writes a pod's resolv.conf, hosts and hostname.
func podFiles(t *testing.T) (resolv, hosts, hostname string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"resolv.conf", "hosts", "hostname"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts"), filepath.Join(dir, "hostname")
}

func mountByDest(mounts []specs.Mount, dst string) (specs.Mount, bool) {
	for _, m := range mounts {
		if m.Destination == dst {
			return m, true
		}
	}
	return specs.Mount{}, false
}

func TestBuildMountsOrder(t *testing.T) {
	resolv, hosts, hostname := podFiles(t)
	data := t.TempDir()
	for _, d := range []string{"a", "a/b"} {
		if err := os.Mkdir(filepath.Join(data, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := testContainer(t, func(c *Container) {
		c.Pod.ResolvConf, c.Pod.Hosts, c.Pod.Hostname, c.Pod.ShmDir = resolv, hosts, hostname, data
		c.Config.Mounts = []*runtimeapi.Mount{
			{ContainerPath: "/data/a/b", HostPath: filepath.Join(data, "a/b")},
			{ContainerPath: "/data", HostPath: data, Readonly: true},
			{ContainerPath: "/data/a", HostPath: filepath.Join(data, "a")},
		}
	})
	mounts, propagation, err := buildMounts(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range mounts {
		got = append(got, m.Destination)
	}
	want := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
		"/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/data", "/data/a", "/data/a/b"}
	if !slices.Equal(got, want) {
		t.Errorf("mount order %q, want %q", got, want)
	}
	if propagation != "" {
		t.Errorf("rootfs propagation %q, want the executor's default", propagation)
	}
	if m, _ := mountByDest(mounts, "/data"); m.Source != data || m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "rprivate", "ro"}) {
		t.Errorf("/data mount %+v, want a private read-only rbind of %s", m, data)
	}
	if m, _ := mountByDest(mounts, "/dev/shm"); m.Source != data || m.Type != "bind" {
		t.Errorf("/dev/shm mount %+v, want a bind of the pod's %s", m, data)
	}
	if m, _ := mountByDest(mounts, "/etc/hosts"); m.Source != hosts || !slices.Contains(m.Options, "rw") {
		t.Errorf("/etc/hosts mount %+v, want a writable bind of %s", m, hosts)
	}
	if m, _ := mountByDest(mounts, "/sys"); !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys mount %+v, want read-only", m)
	}
	if m, _ := mountByDest(mounts, "/sys/fs/cgroup"); m.Type != "cgroup" || !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys/fs/cgroup mount %+v, want a read-only cgroup", m)
	}
}

func TestBuildMountsDefaults(t *testing.T) {
	resolv, hosts, hostname := podFiles(t)
	kubeletHosts := filepath.Join(t.TempDir(), "etc-hosts")
	if err := os.WriteFile(kubeletHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bigShm := t.TempDir()
	for _, tc := range []struct {
		name  string
		edit  func(c *Container)
		check func(t *testing.T, mounts []specs.Mount)
	}{
		{"private shm", nil, func(t *testing.T, mounts []specs.Mount) {
			if m, _ := mountByDest(mounts, "/dev/shm"); m.Type != "tmpfs" || !slices.Contains(m.Options, "size=65536k") {
				t.Errorf("/dev/shm %+v, want a private 64 MiB tmpfs", m)
			}
		}},
		{"host IPC shm", func(c *Container) { c.Pod.IPCNS = "" }, func(t *testing.T, mounts []specs.Mount) {
			if m, _ := mountByDest(mounts, "/dev/shm"); m.Type != "bind" || m.Source != "/dev/shm" {
				t.Errorf("/dev/shm %+v, want the host's", m)
			}
		}},
		{"no pod files", nil, func(t *testing.T, mounts []specs.Mount) {
			for _, dst := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
				if _, ok := mountByDest(mounts, dst); ok {
					t.Errorf("%s mounted without a pod file", dst)
				}
			}
		}},
		{"read-only root makes pod files read-only", func(c *Container) {
			c.Pod.ResolvConf, c.Pod.Hosts, c.Pod.Hostname = resolv, hosts, hostname
			sc(c).ReadonlyRootfs = true
		}, func(t *testing.T, mounts []specs.Mount) {
			for _, dst := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
				if m, ok := mountByDest(mounts, dst); !ok || !slices.Contains(m.Options, "ro") {
					t.Errorf("%s mount %+v, want read-only", dst, m)
				}
			}
		}},
		{"privileged /sys and cgroup are writable", func(c *Container) {
			c.Pod.Privileged, sc(c).Privileged = true, true
		}, func(t *testing.T, mounts []specs.Mount) {
			for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
				if m, _ := mountByDest(mounts, dst); !slices.Contains(m.Options, "rw") || slices.Contains(m.Options, "ro") {
					t.Errorf("%s mount %+v, want writable", dst, m)
				}
			}
		}},
		{"config mounts replace defaults", func(c *Container) {
			c.Pod.ResolvConf, c.Pod.Hosts, c.Pod.Hostname = resolv, hosts, hostname
			c.Config.Mounts = []*runtimeapi.Mount{
				{ContainerPath: "/etc/hosts", HostPath: kubeletHosts},
				{ContainerPath: "/dev/shm", HostPath: bigShm},
			}
		}, func(t *testing.T, mounts []specs.Mount) {
			var shm, etcHosts []string
			for _, m := range mounts {
				switch m.Destination {
				case "/dev/shm":
					shm = append(shm, m.Source)
				case "/etc/hosts":
					etcHosts = append(etcHosts, m.Source)
				}
			}
			if !slices.Equal(shm, []string{bigShm}) || !slices.Equal(etcHosts, []string{kubeletHosts}) {
				t.Errorf("/dev/shm from %q, /etc/hosts from %q; want only the config's", shm, etcHosts)
			}
		}},
		{"a config /dev replaces the defaults below it", func(c *Container) {
			c.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/dev", HostPath: bigShm}}
		}, func(t *testing.T, mounts []specs.Mount) {
			for _, m := range mounts {
				if strings.HasPrefix(m.Destination, "/dev") && m.Source != bigShm {
					t.Errorf("default %s mounted under the config's /dev", m.Destination)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mounts, _, err := buildMounts(testContainer(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, mounts)
		})
	}
}

func TestConfigMountErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		mount *runtimeapi.Mount
		field string
	}{
		{"relative destination", &runtimeapi.Mount{ContainerPath: "data", HostPath: dir}, "mounts[1].container_path"},
		{"unclean destination", &runtimeapi.Mount{ContainerPath: "/data/../etc", HostPath: dir}, "mounts[1].container_path"},
		{"root destination", &runtimeapi.Mount{ContainerPath: "/", HostPath: dir}, "mounts[1].container_path"},
		{"twice", &runtimeapi.Mount{ContainerPath: "/ok", HostPath: dir}, "mounts[1].container_path"},
		{"relative source", &runtimeapi.Mount{ContainerPath: "/data", HostPath: "dir"}, "mounts[1].host_path"},
		{"missing source", &runtimeapi.Mount{ContainerPath: "/data", HostPath: filepath.Join(dir, "missing")}, "mounts[1].host_path"},
		{"unknown propagation", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, Propagation: 5}, "mounts[1].propagation"},
		{"recursive read-only, not read-only", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, RecursiveReadOnly: true}, "mounts[1].recursive_read_only"},
		{"recursive read-only, host to container", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, Readonly: true, RecursiveReadOnly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, "mounts[1].recursive_read_only"},
		{"bad mount option", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, MountOptions: []string{"nodev", "rw"}}, "mounts[1].mount_options[1]"},
		{"nil", nil, "mounts[1]"},
		{"image volume with a host path", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, Readonly: true, Image: &runtimeapi.ImageSpec{Image: "busybox"}}, "mounts[1].host_path"},
		{"writable image volume", &runtimeapi.Mount{ContainerPath: "/data", Image: &runtimeapi.ImageSpec{Image: "busybox"}}, "mounts[1].readonly"},
		{"image volume propagating", &runtimeapi.Mount{ContainerPath: "/data", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "busybox"}, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, "mounts[1].propagation"},
		{"sub path of a host path", &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, ImageSubPath: "etc"}, "mounts[1].image_sub_path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := configMounts([]*runtimeapi.Mount{{ContainerPath: "/ok", HostPath: dir}, tc.mount}, map[int]string{1: dir}, true)
			checkFieldError(t, err, tc.field)
		})
	}
	// A kernel without mount_setattr refuses a mount the CRI allows.
	rro := &runtimeapi.Mount{ContainerPath: "/data", HostPath: dir, Readonly: true, RecursiveReadOnly: true}
	_, _, err := configMounts([]*runtimeapi.Mount{rro}, nil, false)
	checkFieldError(t, err, "mounts[0].recursive_read_only")
	mounts, _, err := configMounts([]*runtimeapi.Mount{rro}, nil, true)
	if err != nil || !slices.Contains(mounts[0].Options, "rro") || !slices.Contains(mounts[0].Options, "rprivate") {
		t.Errorf("recursive read-only mount: %+v, %v; want rro and rprivate among its options", mounts, err)
	}
}

// An image volume binds the source its caller mounted, read-only, and
// never one that is not there.
func TestImageVolumeMount(t *testing.T) {
	src := t.TempDir()
	vol := &runtimeapi.Mount{ContainerPath: "/data", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "busybox"}}
	mounts, _, err := configMounts([]*runtimeapi.Mount{vol}, map[int]string{0: src}, true)
	if err != nil {
		t.Fatal(err)
	}
	if m := mounts[0]; m.Source != src || m.Type != "bind" || !slices.Contains(m.Options, "ro") {
		t.Errorf("image volume %+v, want a read-only bind of %s", m, src)
	}
	if _, _, err := configMounts([]*runtimeapi.Mount{vol}, nil, true); err == nil {
		t.Error("an image volume without its mounted source was accepted")
	}
}

func TestConfigMountOptions(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	mounts, _, err := configMounts([]*runtimeapi.Mount{
		{ContainerPath: "/a", HostPath: link, SelinuxRelabel: true, MountOptions: []string{"nosuid", "noexec"}},
	}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := specs.Mount{Destination: "/a", Type: "bind", Source: dir, Options: []string{"rbind", "rprivate", "rw", "nosuid", "noexec"}}
	if m := mounts[0]; m.Destination != want.Destination || m.Source != want.Source || m.Type != want.Type || !slices.Equal(m.Options, want.Options) {
		t.Errorf("mount %+v, want %+v (symlink resolved, selinux_relabel ignored)", m, want)
	}
}

// TestConfigMountPropagation mounts a tmpfs and gives it each propagation:
// kubelet's propagation modes need a matching host mount.
func TestConfigMountPropagation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	src := filepath.Join(dir, "vol")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		host        uintptr // propagation of the host mount
		propagation runtimeapi.MountPropagation
		option      string
		rootfs      string
		ok          bool
	}{
		{"private on private", unix.MS_PRIVATE, runtimeapi.MountPropagation_PROPAGATION_PRIVATE, "rprivate", "", true},
		{"host-to-container on private", unix.MS_PRIVATE, runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, "", "", false},
		{"bidirectional on private", unix.MS_PRIVATE, runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, "", "", false},
		{"host-to-container on shared", unix.MS_SHARED, runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, "rslave", "rslave", true},
		{"bidirectional on shared", unix.MS_SHARED, runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, "rshared", "rshared", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := unix.Mount("", dir, "", tc.host, ""); err != nil {
				t.Fatalf("set propagation: %v", err)
			}
			mounts, rootfs, err := configMounts([]*runtimeapi.Mount{{ContainerPath: "/vol", HostPath: src, Propagation: tc.propagation}}, nil, true)
			if !tc.ok {
				checkFieldError(t, err, "mounts[0].propagation")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(mounts[0].Options, tc.option) || rootfs != tc.rootfs {
				t.Errorf("options %q, rootfs propagation %q; want %s and %q", mounts[0].Options, rootfs, tc.option, tc.rootfs)
			}
		})
	}
}

// TestPodFileSourcesResolved: the pod's files behind a symlinked directory
// reach the spec as resolved paths, since the executor follows no symlink in
// a bind source.
func TestPodFileSourcesResolved(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "hosts"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Container{Config: &runtimeapi.ContainerConfig{}, Pod: Pod{Hosts: filepath.Join(link, "hosts"), ShmDir: link, IPCNS: "/proc/1/ns/ipc"}}
	mounts := defaultMounts(c)
	if m, _ := mountByDest(mounts, "/etc/hosts"); m.Source != filepath.Join(real, "hosts") {
		t.Errorf("/etc/hosts source %q, want %q", m.Source, filepath.Join(real, "hosts"))
	}
	if m, _ := mountByDest(mounts, "/dev/shm"); m.Source != real {
		t.Errorf("/dev/shm source %q, want %q", m.Source, real)
	}
}
