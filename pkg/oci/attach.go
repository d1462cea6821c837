package oci

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// The attach socket's protocol; see nsenter/attach.h.
const (
	attachSocket    = "attach"
	attachPacket    = 32 * 1024
	attachStdin     = 0
	attachStdout    = 1
	attachStderr    = 2
	attachStdinDone = 3
	attachResize    = 4
)

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
}

// AttachStreams are the caller's ends of an attach: nil ones are not
// attached.
type AttachStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize carries the client's terminal size for a container with a
	// terminal, whose output all comes on Stdout.
	Resize <-chan TerminalSize
}

// Attach connects the streams to a created or running container that has a
// log: the container's output from now on is copied to Stdout and Stderr,
// and Stdin to the container's stdin if it was created with OpenStdin. It
// returns when the container exits or ctx ends. The log stays complete
// whatever the attached client does.
func (r *Runtime) Attach(ctx context.Context, id string, streams AttachStreams) error {
	rec, err := r.loadCreated(id)
	if err != nil {
		return err
	}
	if rec.LogPath == "" {
		return fmt.Errorf("container %s has no log, so nothing to attach to: %w", id, errdefs.ErrFailedPrecondition)
	}
	conn, err := dialAttachReady(ctx, r.dir(id), rec.Monitor)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	defer conn.Close()
	// The resize copy ends with the attach.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if streams.Stdin != nil {
		go sendStdin(conn, streams.Stdin)
	}
	if streams.Resize != nil {
		go sendResizes(ctx, conn, streams.Resize)
	}
	err = receiveOutput(conn, streams.Stdout, streams.Stderr)
	// The socket's end stops the stdin copy at its next write; a reader
	// that blocks forever (a terminal) is the caller's to close.
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	return nil
}

// attachReadyWait bounds how long Attach waits for a live monitor to serve
// its socket.
const attachReadyWait = 5 * time.Second

// dialAttachReady connects to the attach socket of a live monitor. The
// monitor binds the socket as it starts following the container, which
// can be just after Create and Start returned: until then the socket's
// creation in the state directory is waited for, on inotify.
func dialAttachReady(ctx context.Context, dir string, monitor proc.Ref) (*os.File, error) {
	conn, err := dialAttach(dir)
	if err == nil || !errors.Is(err, errdefs.ErrFailedPrecondition) || !monitor.Alive() {
		return conn, err
	}
	in, ierr := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if ierr != nil {
		return nil, err
	}
	events := os.NewFile(uintptr(in), "inotify")
	defer events.Close()
	if _, ierr := unix.InotifyAddWatch(in, dir, unix.IN_CREATE|unix.IN_MOVED_TO); ierr != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, attachReadyWait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = events.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4096)
	for {
		// Dial again after the watch is in place: a socket bound in
		// between is found now, a later one raises an event.
		if conn, err = dialAttach(dir); err == nil || !errors.Is(err, errdefs.ErrFailedPrecondition) || !monitor.Alive() {
			return conn, err
		}
		if _, rerr := events.Read(buf); rerr != nil {
			return nil, err
		}
	}
}

// dialAttach connects to the monitor's socket in dir, through a descriptor
// so that a long state path cannot exceed a socket address.
func dialAttach(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	addr := &unix.SockaddrUnix{Name: filepath.Join("/proc/self/fd", strconv.Itoa(int(d.Fd())), attachSocket)}
	if err := unix.Connect(fd, addr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("its monitor serves no attach socket (it exited, or predates attach): %w", errdefs.ErrFailedPrecondition)
		}
		return nil, fmt.Errorf("connect %s: %w", filepath.Join(dir, attachSocket), err)
	}
	// Non-blocking, the file is in Go's poller: Close then ends a Read
	// that waits for output.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "attach"), nil
}

// sendStdin copies in to the container in packets, then says it ended.
func sendStdin(conn *os.File, in io.Reader) {
	buf := make([]byte, attachPacket)
	for {
		buf[0] = attachStdin
		n, err := in.Read(buf[1:])
		if n > 0 {
			if _, werr := conn.Write(buf[:1+n]); werr != nil {
				return
			}
		}
		if err != nil {
			conn.Write([]byte{attachStdinDone})
			return
		}
	}
}

// sendResizes passes the client's terminal sizes on until the channel
// closes, the attach ends or ctx does.
func sendResizes(ctx context.Context, conn *os.File, sizes <-chan TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case size, ok := <-sizes:
			if !ok {
				return
			}
			pkt := []byte{attachResize}
			pkt = binary.NativeEndian.AppendUint16(pkt, size.Height)
			pkt = binary.NativeEndian.AppendUint16(pkt, size.Width)
			if _, err := conn.Write(pkt); err != nil {
				return
			}
		}
	}
}

// receiveOutput copies the monitor's output packets to their streams until
// the monitor closes the socket.
func receiveOutput(conn *os.File, stdout, stderr io.Writer) error {
	buf := make([]byte, attachPacket)
	for {
		n, err := conn.Read(buf)
		if err == io.EOF || n == 0 && err == nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		var w io.Writer
		switch buf[0] {
		case attachStdout:
			w = stdout
		case attachStderr:
			w = stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(buf[1:n]); err != nil {
			return err
		}
	}
}
