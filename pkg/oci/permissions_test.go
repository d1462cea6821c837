package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// asNobody runs busybox's sh script as the unprivileged user nobody with
// extra as its descriptor 3 and returns its output and error.
func asNobody(t *testing.T, script string, extra *os.File, args ...string) (string, error) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox-static (apt-get install busybox-static)")
	}
	// A script that should fail at once but waits (an open of the fifo
	// that is allowed) is stopped after a while.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bb, append([]string{"sh", "-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func fileMode(t *testing.T, path string) (os.FileMode, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return os.FileMode(st.Mode & 0o7777), st.Uid
}

// No other user can open a container's start fifo, which would start the
// container or stall Start, nor reach its state: not by its path, and not
// through a handle of its state directory. The init, as the process's
// unprivileged user without capabilities, still can.
func TestStateIsPrivate(t *testing.T) {
	busyboxRootfs(t)
	// Only crisp's own modes protect the state below this directory.
	parent := t.TempDir()
	for _, dir := range []string{filepath.Dir(parent), parent} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := New(Options{Root: filepath.Join(parent, "oci"), CgroupMount: cgroupMount(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	if mode, _ := fileMode(t, rt.Root()); mode != 0o700 {
		t.Errorf("state root mode %#o, want 0700", mode)
	}

	logPath := filepath.Join(t.TempDir(), "c.log")
	spec := testSpec(t, "id", "-u")
	spec.Process.User.UID, spec.Process.User.GID = 1000, 1000
	if err := rt.Create(context.Background(), "private", writeBundle(t, spec), CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "private", true) })
	fifo := filepath.Join(rt.dir("private"), fifoFile)
	if mode, uid := fileMode(t, fifo); mode != 0o600 || uid != 1000 {
		t.Errorf("exec.fifo mode %#o owner %d, want 0600 and the process's uid 1000", mode, uid)
	}
	waitFor(t, "the attach socket", func() bool {
		_, err := os.Lstat(filepath.Join(rt.dir("private"), attachSocket))
		return err == nil
	})
	if mode, _ := fileMode(t, filepath.Join(rt.dir("private"), attachSocket)); mode&0o077 != 0 {
		t.Errorf("attach socket mode %#o is open to other users", mode)
	}

	dirHandle, err := os.OpenFile(rt.dir("private"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dirHandle.Close()
	// An open for writing that is allowed waits for a reader.
	for _, path := range []string{fifo, "/proc/self/fd/3/" + fifoFile} {
		out, err := asNobody(t, `exec 4>"$1"`, dirHandle, path)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody opened %s: %v %q, want permission denied", path, err, out)
		}
	}
	if out, err := asNobody(t, `ls "$1"`, nil, rt.dir("private")); err == nil {
		t.Errorf("nobody listed the state directory: %q", out)
	}

	// The init, uid 1000 without capabilities, opens the fifo: the
	// container starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Start(ctx, "private"); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, err := rt.Wait(ctx, "private"); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if got := stream(readLog(t, logPath), "stdout"); len(got) != 1 || got[0] != "F 1000" {
		t.Errorf("container output %q, want its uid 1000", got)
	}
}

// A state root an older crisp left open to others is narrowed; one that is
// not crisp's to narrow is refused.
func TestStateRootMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := filepath.Join(t.TempDir(), "oci")
	if err := os.Mkdir(root, 0o711); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if mode, _ := fileMode(t, root); mode != 0o700 {
		t.Errorf("state root mode %#o, want 0700", mode)
	}
	shared := t.TempDir()
	if err := unix.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Root: shared}); err == nil {
		t.Error("a sticky, world-writable state root was accepted")
	}
	if mode, _ := fileMode(t, shared); mode != 0o1777 {
		t.Errorf("a refused state root was changed to %#o", mode)
	}
}
