package container

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

// lockedBuffer is written by the attach and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttachStdinOnce attaches to a container created with stdin and
// stdin_once, as kubectl run -i does: input reaches the container, the end
// of it ends the container, and the log has everything.
func TestAttachStdinOnce(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb := e.pod(t, "attach", sandbox.ModeContainer)
	cfg := config("attach", "echo ready; while read l; do echo got $l; done; echo bye")
	cfg.Stdin, cfg.StdinOnce = true, true
	c := e.run(t, sb, cfg)
	waitLog(t, c.LogPath, "ready")

	in, inW := io.Pipe()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- e.m.Attach(ctx, c.ID, in, &out, nil, nil) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "got hi"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no echo through the attach; output %q", out.String())
		}
		if out.String() == "" {
			inW.Write([]byte("hi\n"))
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("Attach: %v", err)
	}
	got := e.waitExited(t, c.ID)
	if got.ExitCode != 0 || !strings.HasSuffix(out.String(), "bye\n") {
		t.Errorf("exit code %d, attached output %q", got.ExitCode, out.String())
	}
	if lines := strings.Join(readLog(t, c.LogPath), "|"); !strings.Contains(lines, "got hi") || !strings.HasSuffix(lines, "bye") {
		t.Errorf("log %q", lines)
	}
	if err := e.m.Attach(ctx, c.ID, nil, &out, nil, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("attach to an exited container: %v, want failed precondition", err)
	}
}

// TestAttachStdinWithoutLog attaches to a stdin container created without
// a log path, as critest's attach spec creates one: the container is
// created, and its input and output go through the attach.
func TestAttachStdinWithoutLog(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb := e.pod(t, "attach-nolog", sandbox.ModeContainer)
	cfg := config("attach-nolog", "while read l; do echo got $l; done; echo bye")
	cfg.LogPath = ""
	cfg.Stdin, cfg.StdinOnce = true, true
	c := e.run(t, sb, cfg)
	if c.LogPath != "" {
		t.Errorf("log path %q, want none", c.LogPath)
	}

	// A pipe with a buffer: an Attach that failed leaves the writes below
	// unread without blocking them, and the test reports it.
	in, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- e.m.Attach(ctx, c.ID, in, &out, nil, nil) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "got hi"); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Attach ended before the echo: %v; output %q", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no echo through the attach; output %q", out.String())
		}
		inW.Write([]byte("hi\n"))
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if got := e.waitExited(t, c.ID); got.ExitCode != 0 || !strings.HasSuffix(out.String(), "bye\n") {
		t.Errorf("exit code %d, attached output %q", got.ExitCode, out.String())
	}
}

// TestAttachTerminal runs a tty container with stdin, as kubectl run -it
// does: the client's input reaches its terminal, a resize changes the
// terminal's size, the end of the input ends the container, and the log
// has the terminal's output.
func TestAttachTerminal(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb := e.pod(t, "tty", sandbox.ModeContainer)
	cfg := config("tty", "tty; while read l; do echo got $l; stty size; done; echo bye")
	cfg.Tty, cfg.Stdin, cfg.StdinOnce = true, true, true
	c := e.run(t, sb, cfg)
	waitLog(t, c.LogPath, "/dev/pts/0")

	in, inW := io.Pipe()
	resize := make(chan remotecommand.TerminalSize, 1)
	resize <- remotecommand.TerminalSize{Width: 90, Height: 20}
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- e.m.Attach(ctx, c.ID, in, &out, nil, resize) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "20 90"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the resize never showed; output %q", out.String())
		}
		inW.Write([]byte("x\n"))
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("Attach: %v", err)
	}
	got := e.waitExited(t, c.ID)
	if got.ExitCode != 0 || !strings.Contains(out.String(), "got x") || !strings.Contains(out.String(), "bye") {
		t.Errorf("exit code %d, attached output %q", got.ExitCode, out.String())
	}
	if lines := strings.Join(readLog(t, c.LogPath), "|"); !strings.Contains(lines, "got x") {
		t.Errorf("log %q", lines)
	}
}
