package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	opts     string // per-mount options
	optional string // propagation tags
	fstype   string
}

// parseMountinfo maps mount points to their last (topmost) mount.
func parseMountinfo(text string) map[string]mountInfo {
	m := map[string]mountInfo{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 1 {
			continue
		}
		m[f[4]] = mountInfo{opts: f[5], optional: strings.Join(f[6:], " "), fstype: g[0]}
	}
	return m
}

func TestMounts(t *testing.T) {
	rt := newTestRuntime(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := testSpec(t, "sh", "-c", "cat /proc/self/mountinfo; echo ===; cat /m/bind/hello /m/file; (echo x > /m/bind/new) 2>/dev/null || echo bind is read-only")
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/m/tmpfs", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid", "nodev", "noexec", "noatime", "size=1m"}},
		specs.Mount{Destination: "/m/bind", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro", "nosuid", "private"}},
		specs.Mount{Destination: "/m/file", Type: "bind", Source: filepath.Join(hostDir, "hello"), Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/m/shared", Type: "tmpfs", Source: "tmpfs", Options: []string{"rshared", "relatime"}},
	)
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 {
		t.Fatalf("exit %+v: %s", st, out)
	}
	info, rest, _ := strings.Cut(out, "===\n")
	if rest != "from host\nfrom host\nbind is read-only\n" {
		t.Errorf("bind mount contents: %q", rest)
	}
	mounts := parseMountinfo(info)
	for _, tc := range []struct {
		dest, fstype string
		opts         []string
		optional     string
	}{
		{"/", "", nil, ""},
		{"/proc", "proc", nil, ""},
		{"/dev", "tmpfs", []string{"nosuid"}, ""},
		{"/dev/pts", "devpts", []string{"nosuid", "noexec"}, ""},
		{"/dev/shm", "tmpfs", []string{"nosuid", "nodev", "noexec"}, ""},
		{"/dev/mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}, ""},
		{"/sys", "sysfs", []string{"ro", "nosuid", "nodev", "noexec"}, ""},
		{"/sys/fs/cgroup", "cgroup2", []string{"ro", "nosuid", "nodev", "noexec"}, ""},
		{"/m/tmpfs", "tmpfs", []string{"ro", "nosuid", "nodev", "noexec", "noatime"}, ""},
		{"/m/bind", "", []string{"ro", "nosuid"}, "-"},
		{"/m/file", "", []string{"ro"}, ""},
		{"/m/shared", "tmpfs", []string{"relatime"}, "shared:"},
	} {
		m, ok := mounts[tc.dest]
		if !ok {
			t.Errorf("%s: not mounted", tc.dest)
			continue
		}
		if tc.fstype != "" && m.fstype != tc.fstype {
			t.Errorf("%s: type %s, want %s", tc.dest, m.fstype, tc.fstype)
		}
		have := map[string]bool{}
		for _, o := range strings.Split(m.opts, ",") {
			have[o] = true
		}
		for _, o := range tc.opts {
			if !have[o] {
				t.Errorf("%s: options %s lack %s", tc.dest, m.opts, o)
			}
		}
		switch {
		case tc.optional == "-" && m.optional != "":
			t.Errorf("%s: private mount has propagation %q", tc.dest, m.optional)
		case tc.optional != "" && tc.optional != "-" && !strings.Contains(m.optional, tc.optional):
			t.Errorf("%s: propagation %q, want %s", tc.dest, m.optional, tc.optional)
		}
	}
}

// A symlink in the rootfs must not lead a mount outside it.
func TestMountTargetSymlinkStaysInRoot(t *testing.T) {
	rt := newTestRuntime(t)
	rootfs := busyboxRootfs(t)
	hostDir := t.TempDir()
	link := filepath.Join(rootfs, "escape")
	if err := os.Symlink(hostDir, link); err != nil {
		t.Fatal(err)
	}
	// The link's target, resolved in the root, exists there.
	inRoot := filepath.Join(rootfs, hostDir)
	if err := os.MkdirAll(inRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(link)
		os.RemoveAll(filepath.Join(rootfs, strings.Split(hostDir, "/")[1], strings.Split(hostDir, "/")[2]))
	})
	spec := testSpec(t, "sh", "-c", "grep -c ' "+hostDir+"/sub ' /proc/self/mountinfo")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/escape/sub", Type: "tmpfs", Source: "tmpfs"})
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 || strings.TrimSpace(out) != "1" {
		t.Errorf("tmpfs not at %s/sub inside the container: exit %+v, %q", hostDir, st, out)
	}
	if _, err := os.Lstat(filepath.Join(hostDir, "sub")); !os.IsNotExist(err) {
		t.Errorf("mount target created on the host through the symlink: %v", err)
	}
}

func TestMaskedReadonlyPathsAndReadonlyRoot(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "sh", "-c", `
		echo timer_list=$(cat /proc/timer_list | wc -c) keys=$(cat /proc/keys | wc -c)
		echo firmware=$(ls /sys/firmware | wc -l)
		(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo sys=writable || echo sys=readonly
		touch /newfile 2>/dev/null && echo root=writable || echo root=readonly
		touch /dev/shm/ok && echo shm=writable`)
	spec.Root.Readonly = true
	out, st := runToExit(t, rt, spec)
	want := "timer_list=0 keys=0\nfirmware=0\nsys=readonly\nroot=readonly\nshm=writable\n"
	if st.Code != 0 || out != want {
		t.Errorf("exit %+v, output %q, want %q", st, out, want)
	}
}

func TestDevices(t *testing.T) {
	rt := newTestRuntime(t)
	mode := os.FileMode(0o640)
	uid, gid := uint32(12), uint32(34)
	spec := testSpec(t, "sh", "-c", `
		for d in null zero full random urandom tty; do stat -c "$d %F %t:%T %a" /dev/$d; done
		for l in fd stdin stdout stderr ptmx; do echo "$l -> $(readlink /dev/$l)"; done
		stat -c "mine %F %t:%T %a %u:%g" /dev/sub/mine
		head -c 4 /dev/zero | wc -c`)
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sub/mine", Type: "c", Major: 1, Minor: 7, FileMode: &mode, UID: &uid, GID: &gid}}
	out, st := runToExit(t, rt, spec)
	want := `null character special file 1:3 666
zero character special file 1:5 666
full character special file 1:7 666
random character special file 1:8 666
urandom character special file 1:9 666
tty character special file 5:0 666
fd -> /proc/self/fd
stdin -> /proc/self/fd/0
stdout -> /proc/self/fd/1
stderr -> /proc/self/fd/2
ptmx -> pts/ptmx
mine character special file 1:7 640 12:34
4
`
	if st.Code != 0 || out != want {
		t.Errorf("exit %+v, output:\n%s\nwant:\n%s", st, out, want)
	}
}

// pivot_root, MS_MOVE with chroot, and root propagation settings all give
// the container the same root.
func TestRootSwitchAndPropagation(t *testing.T) {
	rt := newTestRuntime(t)
	for _, tc := range []struct {
		name, propagation string
		noPivot           bool
		want              string // propagation tag of / in the container
	}{
		// Default rslave: nothing the container mounts propagates out
		// (the host's own propagation decides what comes in).
		{"pivot_root", "", false, "!shared:"},
		{"MS_MOVE and chroot", "", true, ""},
		{"rshared", "rshared", false, "shared:"},
		{"rprivate", "rprivate", false, "-"},
		{"unbindable", "unbindable", false, "unbindable"},
		{"runbindable", "runbindable", false, "unbindable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(t, "sh", "-c", "ls /bin/busybox; cat /proc/self/mountinfo")
			spec.Linux.RootfsPropagation = tc.propagation
			id := "root-" + strings.ReplaceAll(tc.name, " ", "-")
			out := newOutputPipe(t)
			if err := rt.Create(context.Background(), id, writeBundle(t, spec), CreateOptions{NoPivot: tc.noPivot, Stdout: out.w, Stderr: out.w}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rt.Delete(context.Background(), id, true) })
			if err := rt.Start(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			if st, err := rt.Wait(context.Background(), id); err != nil || st.Code != 0 {
				t.Fatalf("%+v %v", st, err)
			}
			text := out.text(t)
			first, rest, _ := strings.Cut(text, "\n")
			if first != "/bin/busybox" {
				t.Fatalf("root is not the rootfs: %q", text)
			}
			if tc.noPivot {
				return // the old root stays mounted below the chroot
			}
			root, ok := parseMountinfo(rest)["/"]
			switch {
			case !ok:
				t.Errorf("no / mount:\n%s", rest)
			case tc.want == "-" && root.optional != "":
				t.Errorf("/ propagation %q, want private", root.optional)
			case tc.want == "!shared:" && strings.Contains(root.optional, "shared:"):
				t.Errorf("/ propagation %q, want not shared", root.optional)
			case tc.want != "-" && tc.want != "!shared:" && !strings.Contains(root.optional, tc.want):
				t.Errorf("/ propagation %q, want %s", root.optional, tc.want)
			}
		})
	}
}

// An operation whose error context is longer than the init's message
// buffer fails with a whole, truncated message: the init neither writes
// past its buffer nor sends garbage.
func TestLongMountErrorIsTruncated(t *testing.T) {
	rt := newTestRuntime(t)
	// 3,000 bytes of destination: a valid path (each name < NAME_MAX), an
	// error context (mounts[i] (type on dest)) beyond 2 KiB.
	dest := strings.Repeat("/"+strings.Repeat("d", 99), 30)
	spec := testSpec(t, "true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: dest, Type: "crisp-no-such-fs", Source: "none"})
	err := rt.Create(context.Background(), "longdest", writeBundle(t, spec), CreateOptions{})
	if err == nil {
		_ = rt.Delete(context.Background(), "longdest", true)
		t.Fatal("a mount of an unknown file system type succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "(crisp-no-such-fs on /ddd") || !strings.Contains(msg, "...") {
		t.Errorf("error %.300q... does not name the mount, truncated", msg)
	}
	// The cause follows the cut context.
	if !strings.HasSuffix(strings.ToLower(msg), ": mount: no such device") {
		t.Errorf("error does not end with the mount's cause: ...%q", msg[max(len(msg)-200, 0):])
	}
	if len(msg) > 4096 {
		t.Errorf("error of %d bytes is not bounded", len(msg))
	}
	if _, err := os.Stat(rt.dir("longdest")); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}
}

// TestRecursiveMountOptions: "rro" makes a bind mount read-only all the way
// down, its submounts included, where "ro" leaves a submount writable.
func TestRecursiveMountOptions(t *testing.T) {
	rt := newTestRuntime(t)
	hostDir := t.TempDir()
	sub := filepath.Join(hostDir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	try := func(path string) string {
		return "(echo x > " + path + ") 2>/dev/null && echo " + path + " writable || echo " + path + " read-only; "
	}
	spec := testSpec(t, "sh", "-c", try("/m/ro/x")+try("/m/ro/sub/x")+try("/m/rro/x")+try("/m/rro/sub/x")+try("/m/rrw/sub/x"))
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/m/ro", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro", "private"}},
		specs.Mount{Destination: "/m/rro", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro", "rro", "rprivate"}},
		// The last word wins.
		specs.Mount{Destination: "/m/rrw", Type: "bind", Source: hostDir, Options: []string{"rbind", "rro", "rrw", "rprivate"}},
	)
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 {
		t.Fatalf("exit %+v: %s", st, out)
	}
	want := "/m/ro/x read-only\n/m/ro/sub/x writable\n/m/rro/x read-only\n/m/rro/sub/x read-only\n/m/rrw/sub/x writable\n"
	if out != want {
		t.Errorf("got\n%swant\n%s", out, want)
	}
}
