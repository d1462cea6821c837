package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// syncBuffer is a bytes.Buffer safe for the attach's writer goroutine and
// the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAttachStdinOnce attaches to a container that reads its stdin: what
// the client writes reaches it, the end of the client's input closes the
// container's stdin (stdin_once), and the attach ends when it exits. The
// log has the output too.
func TestAttachStdinOnce(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "c.log")
	spec := testSpec(t, "sh", "-c", "echo ready; while read line; do echo got $line; echo seen >&2; done; echo stdin ended")
	if err := rt.Create(ctx, "stdin", writeBundle(t, spec), CreateOptions{LogPath: logPath, OpenStdin: true, StdinOnce: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "stdin", true) })
	if err := rt.Start(ctx, "stdin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container's first line", func() bool {
		return len(readLog(t, logPath)) > 0
	})

	stdinR, stdinW := io.Pipe()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- rt.Attach(ctx, "stdin", AttachStreams{Stdin: stdinR, Stdout: &stdout, Stderr: &stderr})
	}()
	// Input is sent once the monitor accepted the connection; retry the
	// first line until it shows, as an interactive user would.
	waitFor(t, "the first line echoed through the attach", func() bool {
		if strings.Contains(stdout.String(), "got one") {
			return true
		}
		if stdout.String() == "" {
			stdinW.Write([]byte("one\n"))
		}
		return false
	})
	stdinW.Write([]byte("two\n"))
	waitFor(t, "the second line", func() bool { return strings.Contains(stdout.String(), "got two") })
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the attach did not end when the container exited")
	}
	if st, err := rt.Wait(ctx, "stdin"); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if !strings.HasSuffix(stdout.String(), "got two\nstdin ended\n") || !strings.Contains(stderr.String(), "seen\n") {
		t.Errorf("attached stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	if got := strings.Join(stream(readLog(t, logPath), "stdout"), "|"); !strings.HasPrefix(got, "F ready|F got one") || !strings.HasSuffix(got, "F got two|F stdin ended") {
		t.Errorf("log stdout %q", got)
	}
}

// TestAttachOutputToSeveralClients attaches two clients without stdin: both
// get the output; one leaving does not disturb the other or the container.
func TestAttachOutputToSeveralClients(t *testing.T) {
	rt := newTestRuntime(t)
	// The bound only ends a broken run: 200 forks of sleep take over 30 s
	// in a user-mode Linux guest on a loaded host.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "c.log")
	spec := testSpec(t, "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done")
	if err := rt.Create(ctx, "ticker", writeBundle(t, spec), CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "ticker", true) })
	if err := rt.Start(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	var a, b syncBuffer
	ctxA, cancelA := context.WithCancel(ctx)
	doneA := make(chan error, 1)
	doneB := make(chan error, 1)
	go func() { doneA <- rt.Attach(ctxA, "ticker", AttachStreams{Stdout: &a}) }()
	go func() { doneB <- rt.Attach(ctx, "ticker", AttachStreams{Stdout: &b}) }()
	waitFor(t, "output on both clients", func() bool {
		return strings.Contains(a.String(), "tick") && strings.Contains(b.String(), "tick")
	})
	cancelA()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled attach = %v, want context.Canceled", err)
	}
	if err := <-doneB; err != nil {
		t.Fatalf("second attach: %v", err)
	}
	if !strings.HasSuffix(b.String(), "tick 199\n") {
		t.Errorf("second client's output ends %q", b.String()[max(0, len(b.String())-40):])
	}
	if st, err := rt.Wait(ctx, "ticker"); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if n := len(stream(readLog(t, logPath), "stdout")); n != 200 {
		t.Errorf("log has %d lines, want 200", n)
	}
}

func TestAttachRefusals(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := testSpec(t, "true")
	bundle := writeBundle(t, spec)
	if err := rt.Create(ctx, "nostdin", bundle, CreateOptions{OpenStdin: true}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("stdin without a log: %v, want invalid argument", err)
	}
	if err := rt.Create(ctx, "once", bundle, CreateOptions{LogPath: filepath.Join(t.TempDir(), "l"), StdinOnce: true}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("stdin_once without stdin: %v, want invalid argument", err)
	}
	if err := rt.Create(ctx, "nolog", bundle, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "nolog", true) })
	if err := rt.Attach(ctx, "nolog", AttachStreams{}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("attach to a container without a log: %v, want failed precondition", err)
	}
	if err := rt.Attach(ctx, "missing", AttachStreams{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("attach to a missing container: %v, want not found", err)
	}
}

// TestAttachTerminal runs a container with a terminal that its monitor
// holds: the output is logged and attached, input reaches the terminal,
// and a resize changes its size.
func TestAttachTerminal(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "c.log")
	spec := testSpec(t, "sh", "-c", "tty; stty size; while read line; do echo got $line; stty size; done; echo eof")
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	if err := rt.Create(ctx, "tty", writeBundle(t, spec), CreateOptions{LogPath: logPath, OpenStdin: true, StdinOnce: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "tty", true) })
	if err := rt.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the terminal's size in the log", func() bool {
		return strings.Contains(strings.Join(stream(readLog(t, logPath), "stdout"), "|"), "24 80")
	})

	stdinR, stdinW := io.Pipe()
	resize := make(chan TerminalSize, 1)
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- rt.Attach(ctx, "tty", AttachStreams{Stdin: stdinR, Stdout: &out, Resize: resize})
	}()
	resize <- TerminalSize{Width: 100, Height: 30}
	// Each line makes the container print its size again; stdin and
	// resizes travel separately, so repeat until the new size shows.
	waitFor(t, "the new size after a resize", func() bool {
		if strings.Contains(out.String(), "30 100") {
			return true
		}
		stdinW.Write([]byte("ping\n"))
		time.Sleep(50 * time.Millisecond)
		return false
	})
	stdinW.Close()
	if err := <-done; err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if st, err := rt.Wait(ctx, "tty"); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v (output %q)", st, err, out.String())
	}
	if !strings.Contains(out.String(), "got ping") || !strings.Contains(out.String(), "eof") {
		t.Errorf("attached output %q", out.String())
	}
	lines := stream(readLog(t, logPath), "stdout")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "F /dev/pts/") {
		t.Errorf("the log's first line is %q, want the terminal's name", lines)
	}
	for _, l := range lines {
		if strings.HasSuffix(l, "\r") {
			t.Errorf("log line %q keeps the terminal's carriage return", l)
		}
	}
	if len(stream(readLog(t, logPath), "stderr")) != 0 {
		t.Error("a terminal has no stderr, but the log has stderr lines")
	}
}

// lineReader hands out its client's numbered lines, a batch of whole
// lines per Read, so that each stdin packet holds whole lines.
type lineReader struct {
	client   byte
	next, n  int
	perRead  int
	lineSize int
}

func (r *lineReader) Read(p []byte) (int, error) {
	if r.next == r.n {
		return 0, io.EOF
	}
	out := p[:0]
	for i := 0; i < r.perRead && r.next < r.n && len(out)+r.lineSize <= len(p); i++ {
		line := fmt.Sprintf("%c %06d ", r.client, r.next)
		line += strings.Repeat(string(r.client), r.lineSize-len(line)-1) + "\n"
		out = append(out, line...)
		r.next++
	}
	return len(out), nil
}

// TestAttachStdinOfTwoClients has two clients write their lines at once
// while the container's stdin pipe is full: each client's input reaches the
// container whole and in order, none overwrites the other's.
func TestAttachStdinOfTwoClients(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const lines, lineSize = 2000, 128
	gateDir := t.TempDir()
	gate := filepath.Join(gateDir, "fifo")
	if err := unix.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "c.log")
	// The container reads its stdin only once the gate opens, so that the
	// pipe fills while both clients write.
	spec := testSpec(t, "sh", "-c", "echo ready; read go < /gate/fifo; exec cat")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/gate", Type: "bind", Source: gateDir, Options: []string{"bind"}})
	if err := rt.Create(ctx, "stdin2", writeBundle(t, spec), CreateOptions{LogPath: logPath, OpenStdin: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "stdin2", true) })
	if err := rt.Start(ctx, "stdin2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container's first line", func() bool { return len(readLogSoFar(t, logPath)) > 0 })
	st, err := rt.State(ctx, "stdin2")
	if err != nil {
		t.Fatal(err)
	}
	// A reader of the container's stdin pipe, only to see how full it is.
	pipe, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/0", st.Pid), os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()

	attachCtx, stopAttach := context.WithCancel(ctx)
	defer stopAttach()
	done := make(chan error, 2)
	for _, c := range []byte{'A', 'B'} {
		r := &lineReader{client: c, n: lines, perRead: 32, lineSize: lineSize}
		go func() { done <- rt.Attach(attachCtx, "stdin2", AttachStreams{Stdin: r}) }()
	}
	waitFor(t, "a full stdin pipe", func() bool {
		n, err := unix.IoctlGetInt(int(pipe.Fd()), unix.TIOCINQ) // FIONREAD
		return err == nil && n >= 56*1024
	})
	g, err := os.OpenFile(gate, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	g.Close()

	last := fmt.Sprintf(" %06d ", lines-1)
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = stream(readLogSoFar(t, logPath), "stdout")
		n := 0
		for _, l := range got {
			if strings.Contains(l, last) {
				n++
			}
		}
		if n == 2 || len(got) >= 1+2*lines || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	next := map[byte]int{'A': 0, 'B': 0}
	for _, l := range got[1:] {
		var c byte
		var seq int
		content := strings.TrimPrefix(l, "F ")
		if _, err := fmt.Sscanf(content, "%c %06d ", &c, &seq); err != nil || len(content) != lineSize-1 ||
			strings.Trim(content[9:], string(c)) != "" || seq != next[c] {
			t.Fatalf("line %q: want client %c's line %d whole (%d lines logged)", l[:min(len(l), 60)], c, next[c], len(got))
		}
		next[c]++
	}
	if next['A'] != lines || next['B'] != lines {
		t.Errorf("the container read %d lines of A and %d of B, want %d each", next['A'], next['B'], lines)
	}
	stopAttach()
	for range 2 {
		<-done
	}
}

// An Attach right after Start may come before the monitor bound its
// socket: it waits for the socket of a live monitor instead of failing.
func TestDialAttachWaitsForTheMonitorsSocket(t *testing.T) {
	dir := t.TempDir()
	self, err := proc.NewRef(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dialed := make(chan error, 1)
	go func() {
		conn, err := dialAttachReady(context.Background(), dir, self)
		if err == nil {
			conn.Close()
		}
		dialed <- err
	}()
	// Bind once the dial is waiting on the directory (or has failed).
	select {
	case err := <-dialed:
		t.Fatalf("dial before the socket exists ended: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// As the monitor does: listen under another name, then rename, so
	// that the name appears on a socket that accepts.
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, "attach.tmp"), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Rename(filepath.Join(dir, "attach.tmp"), filepath.Join(dir, attachSocket)); err != nil {
		t.Fatal(err)
	}
	if err := <-dialed; err != nil {
		t.Fatalf("dial after the socket appeared: %v", err)
	}
	// A dead monitor's missing socket is an answer at once.
	dead := self
	dead.Start++
	if _, err := dialAttachReady(context.Background(), t.TempDir(), dead); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("dial of a dead monitor: %v, want a failed precondition", err)
	}
}
