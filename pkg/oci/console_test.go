package oci

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// listenConsole listens on a console socket until the test ends.
func listenConsole(t *testing.T) (string, *net.UnixListener) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return sock, ln
}

// receiveConsole accepts one connection on ln and returns the terminal
// master sent over it.
func receiveConsole(t *testing.T, ln *net.UnixListener) *os.File {
	t.Helper()
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 64), oob)
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
	return os.NewFile(uintptr(fds[0]), "master")
}

// readAll reads a terminal master until the terminal is closed (EIO).
func readAll(master *os.File) string {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

func TestExecWithTerminal(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	startContainer(t, rt, "exectty", testSpec(t, "sleep", "100"))
	sock, ln := listenConsole(t)
	proc := &specs.Process{Terminal: true, Args: []string{"sh", "-c", "tty; echo in exec"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	p, err := rt.Exec(ctx, "exectty", proc, ExecOptions{ConsoleSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	master := receiveConsole(t, ln)
	defer master.Close()
	if es, err := p.Wait(); err != nil || es.Code != 0 {
		t.Fatalf("%+v %v", es, err)
	}
	if got, want := readAll(master), "/dev/pts/0\r\nin exec\r\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
}

func TestConsoleSocket(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	sock, ln := listenConsole(t)
	spec := testSpec(t, "sh", "-c", "tty; stty size; echo hi")
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	if err := rt.Create(ctx, "tty", writeBundle(t, spec), CreateOptions{ConsoleSocket: sock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(ctx, "tty", true) })
	master := receiveConsole(t, ln)
	defer master.Close()
	if err := rt.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(master), "/dev/pts/0\r\n33 101\r\nhi\r\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
}

// Create asks Console for the socket when the process wants a terminal and
// no socket is given, and only then.
func TestConsoleAskedWhenTerminal(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	sock, ln := listenConsole(t)
	asked := 0
	console := func() (string, error) { asked++; return sock, nil }
	spec := testSpec(t, "sh", "-c", "tty")
	spec.Process.Terminal = true
	if err := rt.Create(ctx, "asked", writeBundle(t, spec), CreateOptions{Console: console}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(ctx, "asked", true) })
	master := receiveConsole(t, ln)
	defer master.Close()
	if asked != 1 {
		t.Errorf("Console asked %d times for a terminal, want once", asked)
	}
	if err := rt.Start(ctx, "asked"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "asked"); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(master), "/dev/pts/0\r\n"; got != want {
		t.Errorf("terminal output %q, want %q", got, want)
	}
	spec = testSpec(t, "true")
	if err := rt.Create(ctx, "notty", writeBundle(t, spec), CreateOptions{Console: console}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(ctx, "notty", true) })
	if asked != 1 {
		t.Errorf("Console asked for a process without a terminal")
	}
}
