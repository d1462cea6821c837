package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// streamBuffer is a caller's output stream: it keeps what is written and
// whether it was closed.
type streamBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (b *streamBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *streamBuffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *streamBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// goneStream is the stream of a client that has gone away.
type goneStream struct{}

func (goneStream) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
func (goneStream) Close() error              { return nil }

func TestExecStreams(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "stream", sandbox.ModeContainer)
	c := e.run(t, sb, config("stream", "echo ready; sleep 1000"))
	waitLog(t, c.LogPath, "ready")

	tests := []struct {
		name           string
		cmd            []string
		stdin          io.Reader
		noStdout       bool
		noStderr       bool
		stdout, stderr string
		code           int32
	}{
		{name: "output and exit code", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, stdout: "out\n", stderr: "err\n", code: 4},
		{name: "stdin to end of file", cmd: []string{"cat"}, stdin: strings.NewReader("hello\nworld\n"), stdout: "hello\nworld\n"},
		{name: "no stdin is /dev/null", cmd: []string{"sh", "-c", "cat; echo done"}, stdout: "done\n"},
		{name: "stderr alone", cmd: []string{"sh", "-c", "echo out; echo err >&2"}, noStdout: true, stderr: "err\n"},
		{name: "stdout alone", cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 1"}, noStderr: true, stdout: "out\n", code: 1},
		{name: "the container's namespaces", cmd: []string{"cat", "/proc/1/cmdline"}, stdout: "sleep\x001000\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr streamBuffer
			var outW, errW io.WriteCloser = &stdout, &stderr
			if tt.noStdout {
				outW = nil
			}
			if tt.noStderr {
				errW = nil
			}
			code, err := e.m.Exec(ctx, c.ID, tt.cmd, tt.stdin, outW, errW, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tt.stdout || stderr.String() != tt.stderr || code != tt.code {
				t.Errorf("Exec = %q, %q, %d; want %q, %q, %d", stdout.String(), stderr.String(), code, tt.stdout, tt.stderr, tt.code)
			}
			if stdout.closed != !tt.noStdout || stderr.closed != !tt.noStderr {
				t.Errorf("output streams closed: stdout %v, stderr %v; want every stream given closed", stdout.closed, stderr.closed)
			}
		})
	}

	t.Run("terminal", func(t *testing.T) {
		var stdout streamBuffer
		code, err := e.m.Exec(ctx, c.ID, []string{"sh", "-c", "tty; echo err >&2; exit 3"}, nil, &stdout, nil, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The terminal merges stderr and turns newlines into CR LF.
		if !regexp.MustCompile(`^/dev/pts/\d+\r\nerr\r\n$`).MatchString(stdout.String()) || code != 3 {
			t.Errorf("Exec with a terminal = %q, %d; want the terminal's name, err and 3", stdout.String(), code)
		}
		if !stdout.closed {
			t.Error("stdout was not closed")
		}
	})

	t.Run("terminal resize", func(t *testing.T) {
		stdinR, stdinW := io.Pipe()
		defer stdinW.Close()
		resize := make(chan remotecommand.TerminalSize)
		var stdout streamBuffer
		type result struct {
			code int32
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := e.m.Exec(ctx, c.ID, []string{"sh", "-c", "read x; stty size; read x; stty size"}, stdinR, &stdout, nil, true, resize)
			done <- result{code, err}
		}()
		// Resizes are applied in order, one before the next is taken:
		// once the second is taken the first is in effect. The shell
		// reads its size after each line typed, which the terminal echoes.
		for _, size := range []remotecommand.TerminalSize{{Width: 100, Height: 30}, {Width: 120, Height: 40}} {
			resize <- size
			resize <- size
			if _, err := io.WriteString(stdinW, "next\n"); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("next\r\n%d %d\r\n", size.Height, size.Width)
			waitFor(t, func() bool { return strings.HasSuffix(stdout.String(), want) }, func() string {
				return fmt.Sprintf("terminal output %q never ended in %q", stdout.String(), want)
			})
		}
		r := <-done
		if r.err != nil || r.code != 0 {
			t.Fatalf("Exec = %d, %v", r.code, r.err)
		}
		if want := "next\r\n30 100\r\nnext\r\n40 120\r\n"; stdout.String() != want {
			t.Errorf("terminal output %q, want %q", stdout.String(), want)
		}
	})

	t.Run("the first size is the terminal's from the start", func(t *testing.T) {
		// The client sends its size as the stream opens; a process that
		// asks at once must not find 0x0.
		resize := make(chan remotecommand.TerminalSize, 1)
		resize <- remotecommand.TerminalSize{Width: 90, Height: 25}
		var stdout streamBuffer
		code, err := e.m.Exec(ctx, c.ID, []string{"sh", "-c", "stty size"}, nil, &stdout, nil, true, resize)
		if err != nil || code != 0 || stdout.String() != "25 90\r\n" {
			t.Errorf("stty size = %q, %d, %v; want 25 90", stdout.String(), code, err)
		}
	})

	t.Run("the end of stdin hangs the terminal up", func(t *testing.T) {
		// The deadline only keeps a broken test from hanging.
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var stdout streamBuffer
		code, err := e.m.Exec(dctx, c.ID, []string{"sh", "-c", "exec sleep 1000"}, strings.NewReader(""), &stdout, nil, true, nil)
		if err != nil || code != 128+int32(unix.SIGHUP) {
			t.Errorf("Exec = %d, %v; want the process ended by SIGHUP", code, err)
		}
	})

	t.Run("a client gone ends the output", func(t *testing.T) {
		// Without the client the output pipe would fill and the loop
		// block forever; the deadline only keeps a broken test from
		// hanging.
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		code, err := e.m.Exec(dctx, c.ID, []string{"sh", "-c", "while echo y; do :; done; exit 7"}, nil, goneStream{}, nil, false, nil)
		if err != nil || (code != 7 && code != 128+int32(unix.SIGPIPE)) {
			t.Errorf("Exec = %d, %v; want the writes to fail", code, err)
		}
	})

	t.Run("cancel kills the process", func(t *testing.T) {
		cctx, cancel := context.WithCancelCause(ctx)
		stdinR, stdinW := io.Pipe()
		defer stdinW.Close()
		var stdout streamBuffer
		errc := make(chan error, 1)
		go func() {
			_, err := e.m.Exec(cctx, c.ID, []string{"sh", "-c", "echo started; exec cat"}, stdinR, &stdout, nil, false, nil)
			errc <- err
		}()
		// cat echoes a line once it runs.
		if _, err := io.WriteString(stdinW, "line\n"); err != nil {
			t.Fatal(err)
		}
		stop := errors.New("client went away")
		waitFor(t, func() bool { return stdout.String() == "started\nline\n" }, func() string {
			return fmt.Sprintf("output %q, want started and the line cat echoes", stdout.String())
		})
		cancel(stop)
		if err := <-errc; !errors.Is(err, stop) {
			t.Fatalf("cancelled Exec: %v, want its cause", err)
		}
		procs, err := e.rt.Ps(ctx, c.ID)
		if err != nil || len(procs) != 1 || procs[0] != c.Pid {
			t.Errorf("processes in the container after the cancel: %v, %v; want only %d", procs, err, c.Pid)
		}
	})

	t.Run("no descriptors left", func(t *testing.T) {
		before := openFiles(t)
		for range 3 {
			var stdout, stderr streamBuffer
			if _, err := e.m.Exec(ctx, c.ID, []string{"cat"}, strings.NewReader("x"), &stdout, &stderr, false, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Exec(ctx, c.ID, []string{"sh", "-c", "tty"}, strings.NewReader("x"), &stdout, nil, true, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Fewer is fine: an earlier subtest's exit watcher may still have
		// held its pidfd when the count was taken.
		if after := openFiles(t); after > before {
			t.Errorf("%d descriptors open after the execs, %d before", after, before)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		var out streamBuffer
		if _, err := e.m.Exec(ctx, c.ID, nil, nil, &out, nil, false, nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Exec without a command: %v, want invalid argument", err)
		}
		if _, err := e.m.Exec(ctx, "0123456789", []string{"true"}, nil, &out, nil, false, nil); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Exec in an unknown container: %v, want not found", err)
		}
	})

	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	var out streamBuffer
	if _, err := e.m.Exec(ctx, c.ID, []string{"true"}, nil, &out, nil, false, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Exec in an exited container: %v, want failed precondition", err)
	}
}

// waitFor waits until cond holds; the bound only keeps a broken test from
// hanging.
func waitFor(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
	}
}

// openFiles counts the test process's open descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
