package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// Exec runs cmd in a running container, as its process runs (like
// ExecSync), with its stdio connected to the given streams, and returns its
// exit code once it has exited and its output is copied.
//
// Without a terminal the process reads stdin through a pipe, which is
// closed when stdin ends so that a command reading to end of file (cat)
// finishes; a nil stream is /dev/null. With tty the process gets a new
// terminal: stdin is typed into it, stdout receives its output and stderr
// is unused, as the terminal merges the two; each size from resize is
// applied to it. The end of stdin hangs the terminal up.
//
// A client that stops taking output is gone: the process's output is
// closed, so that it does not block writing to it. When ctx is done the
// process is killed and Exec returns the cause. A copy from stdin blocked
// in a read ends only when the caller closes stdin, as the streaming server
// does once Exec returns.
func (m *Manager) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) (int32, error) {
	if len(cmd) == 0 {
		return 0, errdefs.InvalidField("cmd", "must not be empty")
	}
	c, err := m.Get(id)
	if err != nil {
		return 0, err
	}
	if c.State != StateRunning {
		return 0, fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	s, err := m.opts.Runtime.Spec(ctx, c.ID)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	p := execProcess(s.Process, cmd)
	p.Terminal = tty
	if tty {
		p.ConsoleSize = firstSize(ctx, resize)
	}

	sio := &streamIO{stdin: stdin, stdout: stdout, stderr: stderr, resize: resize, done: make(chan struct{})}
	if tty {
		sio.stderr = nil
		err = sio.listenConsole()
	} else {
		err = sio.makePipes()
	}
	if err != nil {
		sio.close()
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	defer sio.close()

	proc, err := m.opts.Runtime.Exec(ctx, c.ID, p, sio.opts)
	sio.closeChildEnds()
	if err != nil {
		return 0, err // it names the container
	}
	type result struct {
		st  *oci.ExitStatus
		err error
	}
	exited := make(chan result, 1)
	go func() {
		st, err := proc.Wait()
		exited <- result{st, err}
	}()
	kill := func() result {
		if err := proc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, unix.ESRCH) {
			klog.ErrorS(err, "Killing exec", "container", c.ID, "pid", proc.Pid)
		}
		return <-exited
	}
	if err := sio.start(ctx); err != nil {
		kill()
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}

	var r result
	select {
	case r = <-exited:
	case <-ctx.Done():
		kill()
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, context.Cause(ctx))
	}
	if r.err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, r.err)
	}
	// The output is complete once every writer is gone: the process and
	// whatever it left running in the background. Wait for that only as
	// long as the caller does.
	select {
	case <-sio.outputDone():
	case <-ctx.Done():
		klog.V(2).InfoS("Exec output still open after the process exited", "container", c.ID, "cmd", cmd)
	}
	return int32(r.st.Code), nil
}

// firstResizeWait bounds the wait for the client's first terminal size.
const firstResizeWait = 250 * time.Millisecond

// firstSize is the terminal size the client sends as the stream opens
// (kubectl and crictl send their terminal's at once), for the terminal to
// have it from the start: a process that asks for its size at once (stty,
// a shell drawing its prompt) would otherwise find 0x0 until the first
// resize lands. nil when none comes within firstResizeWait.
func firstSize(ctx context.Context, resize <-chan remotecommand.TerminalSize) *specs.Box {
	if resize == nil {
		return nil
	}
	timer := time.NewTimer(firstResizeWait)
	defer timer.Stop()
	select {
	case size, ok := <-resize:
		if ok && size.Width > 0 && size.Height > 0 {
			return &specs.Box{Height: uint(size.Height), Width: uint(size.Width)}
		}
	case <-timer.C:
	case <-ctx.Done():
	}
	return nil
}

// streamIO connects an exec'd process's stdio to the caller's streams:
// through pipes, or through a terminal whose master comes back over a
// console socket.
type streamIO struct {
	stdin          io.Reader
	stdout, stderr io.WriteCloser
	resize         <-chan remotecommand.TerminalSize

	// opts is the process's side, for oci.Runtime.Exec.
	opts oci.ExecOptions
	// childEnds are the process's pipe ends, closed in the daemon once
	// the process has them.
	childEnds []*os.File
	// outputs are what the copies to stdout and stderr read: the pipes,
	// or the terminal's master.
	outputs []output
	in      *os.File // the daemon's end for stdin, nil without one

	consoleDir string
	console    *net.UnixListener
	master     *os.File

	copies sync.WaitGroup // the copies to stdout and stderr
	done   chan struct{}  // closed when the exec ends; stops the resizes
}

// output is a copy from the process's output to one of the caller's
// streams.
type output struct {
	r *os.File
	w io.Writer
}

// makePipes makes a pipe for each stream the caller gave.
func (s *streamIO) makePipes() error {
	if s.stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		s.opts.Stdin, s.in = r, w
		s.childEnds = append(s.childEnds, r)
	}
	for _, out := range []struct {
		w     io.WriteCloser
		child **os.File
	}{{s.stdout, &s.opts.Stdout}, {s.stderr, &s.opts.Stderr}} {
		if out.w == nil {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		*out.child = w
		s.childEnds = append(s.childEnds, w)
		s.outputs = append(s.outputs, output{r, out.w})
	}
	return nil
}

// listenConsole makes the console socket the terminal's master is sent
// to, in a private directory of its own.
func (s *streamIO) listenConsole() error {
	dir, err := os.MkdirTemp("", "crisp-exec-")
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	s.consoleDir = dir
	path := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	s.console = ln
	s.opts.ConsoleSocket = path
	return nil
}

// closeChildEnds closes the daemon's copies of the process's pipe ends, so
// that the process alone holds them.
func (s *streamIO) closeChildEnds() {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
}

// start begins copying once the process runs. With a terminal it first
// receives the master, which the executor sent before Exec returned.
func (s *streamIO) start(ctx context.Context) error {
	if s.console != nil {
		master, err := receiveMaster(ctx, s.console)
		if err != nil {
			return err
		}
		s.master = master
		// A terminal without a stdout stream is still read, so the
		// process never blocks on a full terminal.
		var w io.Writer = io.Discard
		if s.stdout != nil {
			w = s.stdout
		}
		s.outputs = []output{{master, w}}
		go s.applyResizes()
	}
	if s.stdin != nil {
		in := s.in
		if s.master != nil {
			in = s.master
		}
		go func() {
			_, _ = io.Copy(in, s.stdin)
			// End of stdin is end of file for a pipe. A client on a
			// terminal types ^D as a byte like any other, so the end of
			// its stdin means it has gone: the terminal is hung up, as
			// closing a terminal window does (the process gets SIGHUP).
			in.Close()
		}()
	}
	for _, out := range s.outputs {
		s.copies.Add(1)
		go func() {
			defer s.copies.Done()
			w := &clientWriter{w: out.w}
			_, _ = io.Copy(w, out.r)
			if w.err != nil {
				// The client is gone: the process's next write fails
				// (a broken pipe) or its terminal is hung up, instead of
				// it blocking on output nobody reads.
				out.r.Close()
			}
		}()
	}
	return nil
}

// clientWriter remembers a failed write to the caller's stream, which
// io.Copy does not tell apart from a failed read of the process's output.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// applyResizes sets the terminal's size to each size the caller sends
// until the exec ends.
func (s *streamIO) applyResizes() {
	conn, err := s.master.SyscallConn()
	if err != nil {
		return
	}
	for {
		select {
		case <-s.done:
			return
		case size, ok := <-s.resize:
			if !ok {
				return
			}
			ws := &unix.Winsize{Row: size.Height, Col: size.Width}
			var serr error
			if err := conn.Control(func(fd uintptr) { serr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err == nil && serr != nil {
				klog.V(2).InfoS("Resizing exec terminal", "width", size.Width, "height", size.Height, "err", serr)
			}
		}
	}
}

// outputDone is closed once every copy to stdout and stderr has finished.
func (s *streamIO) outputDone() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		s.copies.Wait()
		close(done)
	}()
	return done
}

// close ends the copies, even those whose writers something in the
// container still holds, closes the caller's output streams, and removes
// the console socket.
func (s *streamIO) close() {
	close(s.done)
	s.closeChildEnds()
	for _, out := range s.outputs {
		out.r.Close()
	}
	if s.in != nil {
		s.in.Close()
	}
	s.copies.Wait()
	for _, w := range []io.WriteCloser{s.stdout, s.stderr} {
		if w != nil {
			w.Close()
		}
	}
	if s.console != nil {
		s.console.Close()
	}
	if s.consoleDir != "" {
		os.RemoveAll(s.consoleDir)
	}
}

// receiveMaster accepts the executor's connection on the console socket
// and returns the terminal master sent over it, in non-blocking mode so
// that closing it ends a read in progress.
func receiveMaster(ctx context.Context, ln *net.UnixListener) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	got := make(chan result, 1)
	go func() {
		f, err := readMaster(ln)
		got <- result{f, err}
	}()
	select {
	case r := <-got:
		return r.f, r.err
	case <-ctx.Done():
		ln.Close()
		if r := <-got; r.f != nil {
			r.f.Close()
		}
		return nil, context.Cause(ctx)
	}
}

func readMaster(ln *net.UnixListener) (*os.File, error) {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 64), oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("console socket: no terminal received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("console socket: no terminal received")
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}
