package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// children returns the pids whose parent is this process, after reaping
// the zombies among them.
func children(t *testing.T) []int {
	t.Helper()
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			kids = append(kids, pid)
		}
	}
	return kids
}

// After any failed create no mount, cgroup, state directory or process is
// left behind.
func TestFailedCreateLeavesNothing(t *testing.T) {
	rt := newTestRuntime(t)
	// Orphaned monitors become our children, so that leftovers show.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	one := 1
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want string
	}{
		{"missing binary", func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} }, "process.args[0]"},
		{"missing bind source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir", Options: []string{"bind"}})
		}, "mounts[7]"},
		{"unknown file system", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "nosuchfs", Source: "none"})
		}, "mounts[7]"},
		{"bad cwd", func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" }, "process.cwd"},
		{"failing createRuntime hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
		}, "createRuntime hook 0"},
		{"hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &one}}}
		}, "timed out"},
		{"failing createContainer hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/false"}}}
		}, "createContainer hook 0"},
		{"bad namespace path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/no/such/ns" }, "open namespace"},
		{"unmapped user namespace root", func(s *specs.Spec) {
			userSpec(s)
			s.Linux.UIDMappings[0].Size = 0 // the kernel refuses an empty range
		}, "uid_map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kidsBefore := children(t)
			spec := testSpec(t, "true")
			tc.edit(spec)
			err := rt.Create(context.Background(), "leak", writeBundle(t, spec), CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create error %v, want one about %s", err, tc.want)
			}
			if _, err := os.Stat(rt.dir("leak")); !os.IsNotExist(err) {
				t.Errorf("state directory left behind (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(rt.cgroupMount, spec.Linux.CgroupsPath)); !os.IsNotExist(err) {
				t.Errorf("cgroup left behind (%v)", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for len(children(t)) > len(kidsBefore) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if kids := children(t); len(kids) > len(kidsBefore) {
				t.Errorf("processes left behind: %v", kids)
			}
			// Other software may mount meanwhile: look for crisp's paths.
			mounts, err := os.ReadFile("/proc/self/mountinfo")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(mounts), "\n") {
				if strings.Contains(line, busyboxRootfs(t)) || strings.Contains(line, rt.Root()) {
					t.Errorf("mount left behind: %s", line)
				}
			}
		})
	}
}

// The defence against CVE-2019-5736 on its own: a handle from
// openReadOnlyExe or copySealedExe cannot be opened for writing, even by
// root, once nothing executes the file (the kernel checks ETXTBSY first).
func TestSealedExeRefusesWrites(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := filepath.Join(t.TempDir(), "binary")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ro, err := openReadOnlyExe(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", ro.Fd()), os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("read-only mount handle opened for writing: %v, want EROFS", err)
	}
	sealed, err := copySealedExe(src)
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", sealed.Fd()), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("write to the sealed copy: %v, want EPERM", err)
	}
	// The source itself stays writable: the defence is the handle's.
	f, err := os.OpenFile(src, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("source not writable: %v", err)
	}
	f.Close()
}

// A container process must not be able to write the crisp binary through
// /proc/<pid>/exe of a crisp process (CVE-2019-5736): the binary it reaches
// is on a read-only mount.
func TestCrispBinaryIsReadOnlyFromContainers(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	// Without a pid namespace the container sees its monitor; with all
	// capabilities it may open its /proc entries. Writing must fail: with
	// ETXTBSY while crisp runs anywhere, with EROFS always.
	spec := testSpec(t, "sh", "-c", `
		n=0
		for p in /proc/[0-9]*; do
			[ "$(cat $p/comm 2>/dev/null)" = crisp-monitor ] || continue
			n=$((n+1))
			(echo pwned >> $p/exe) 2>/dev/null && echo "$p/exe writable"
		done
		echo tried=$((n>0))`)
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.PIDNamespace {
			nss = append(nss, ns)
		}
	}
	spec.Linux.Namespaces = nss
	spec.Mounts = spec.Mounts[1:] // no new proc without a pid namespace
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind"}})
	spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	out, st := runToExit(t, rt, spec)
	if st.Code != 0 || out != "tried=1\n" {
		t.Errorf("exit %+v, output %q, want tried=1 and no writable binary", st, out)
	}

	// What the init and its monitor execute is on a read-only mount.
	createContainer(t, rt, "exe", testSpec(t, "true"), nil)
	s, err := rt.State(ctx, "exe")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rt.load("exe")
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{s.Pid, rec.Monitor.Pid} {
		var fs unix.Statfs_t
		if err := unix.Statfs(fmt.Sprintf("/proc/%d/exe", pid), &fs); err != nil {
			t.Fatal(err)
		}
		if fs.Flags&unix.ST_RDONLY == 0 {
			t.Errorf("/proc/%d/exe is on a writable mount (flags %#x)", pid, fs.Flags)
		}
	}
}

func TestConsoleSocket(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	spec := testSpec(t, "sh", "-c", "tty; stty size; echo hi")
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	if err := rt.Create(ctx, "tty", writeBundle(t, spec), CreateOptions{ConsoleSocket: sock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(ctx, "tty", true) })
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 64), oob)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no descriptor received: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("no descriptor received: %v", err)
	}
	master := os.NewFile(uintptr(fds[0]), "master")
	defer master.Close()
	if err := rt.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf) // EIO once the terminal is closed
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if got, want := string(out), "/dev/pts/0\r\n33 101\r\nhi\r\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
}
