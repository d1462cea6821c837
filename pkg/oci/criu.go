package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/criu"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// CRIU is driven through its RPC interface: `criu swrk <fd>` serves
// requests on a SOCK_SEQPACKET socket, one message a packet, which
// Options.CRIU encodes (package criu). A dump runs criu as the caller's child. A restore runs it as
// the child of the container's monitor, so that the restored tree, which
// CRIU makes its sibling (rst_sibling), is the monitor's to reap.

// criuMaxMessage bounds a response from CRIU; its answers are small.
const criuMaxMessage = 1 << 16

// criuPath finds the criu binary: the monitor's child executes it by an
// absolute path.
func (r *Runtime) criuPath() (string, error) {
	path, err := exec.LookPath(r.criu)
	if err == nil {
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return "", fmt.Errorf("checkpoint/restore needs CRIU (Debian's criu package): %w", err)
	}
	return path, nil
}

// criuCodecOrRefuse returns the codec of CRIU's messages, or why there is
// none.
func (r *Runtime) criuCodecOrRefuse(op string) (criu.Codec, error) {
	if r.criuCodec == nil {
		return nil, fmt.Errorf("%s: this program is built without CRIU's protocol (crisp serves checkpoint and restore): %w", op, errdefs.ErrNotImplemented)
	}
	return r.criuCodec, nil
}

// criuConn is the caller's end of a criu swrk socket.
type criuConn struct {
	sock  *os.File
	codec criu.Codec
}

// criuSocketPair returns the two ends of a criu swrk socket: the caller's
// (non-blocking, in Go's poller, so a context can end a wait) and the one
// criu serves on.
func criuSocketPair(codec criu.Codec) (*criuConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("criu socket pair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("criu socket pair: %w", err)
	}
	return &criuConn{sock: os.NewFile(uintptr(fds[0]), "criu"), codec: codec}, os.NewFile(uintptr(fds[1]), "criu-swrk"), nil
}

// Close closes the socket: criu swrk exits when it reads the end.
func (c *criuConn) Close() error { return c.sock.Close() }

// criuNotify answers CRIU's notifications (pre-dump, post-restore,
// network-lock, ...); an error fails the operation.
type criuNotify func(script string, pid int32) error

// do sends one request and answers CRIU's notifications until its
// response. An unsuccessful response is an error with CRIU's message; the
// details are in the operation's log in the work directory.
func (c *criuConn) do(ctx context.Context, t criu.RequestType, opts *criu.Options, notify criuNotify) (criu.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.sock.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) error {
		if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			return context.Cause(ctx)
		}
		return err
	}
	if notify != nil {
		opts.NotifyScripts = true
	}
	req := criu.Request{Type: t, Opts: opts}
	buf := make([]byte, criuMaxMessage)
	for {
		out, err := c.codec.EncodeRequest(req)
		if err != nil {
			return criu.Response{}, fmt.Errorf("criu request: %w", err)
		}
		if _, err := c.sock.Write(out); err != nil {
			return criu.Response{}, fmt.Errorf("criu request: %w", fail(err))
		}
		n, err := c.sock.Read(buf)
		if err != nil {
			return criu.Response{}, fmt.Errorf("criu response: %w", fail(err))
		}
		resp, err := c.codec.DecodeResponse(buf[:n])
		if err != nil {
			return criu.Response{}, err
		}
		if !resp.Success {
			msg := resp.Errmsg
			if msg == "" {
				msg = "see its log"
			}
			return resp, fmt.Errorf("criu %s failed: %s (errno %d)", t, msg, resp.Errno)
		}
		if resp.Type != criu.Notify {
			if resp.Type != t {
				return resp, fmt.Errorf("criu answered %s to %s", resp.Type, t)
			}
			return resp, nil
		}
		if notify != nil {
			if err := notify(resp.NotifyScript, resp.NotifyPid); err != nil {
				return resp, fmt.Errorf("criu %s: %s: %w", t, resp.NotifyScript, err)
			}
		}
		req = criu.Request{Type: criu.Notify, NotifySuccess: true}
	}
}

// criuLogErrors returns the last error lines of CRIU's log, which say
// what failed far better than its RPC answer.
func criuLogErrors(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		_, _ = f.Seek(fi.Size()-tail, io.SeekStart)
	}
	data, _ := io.ReadAll(io.LimitReader(f, tail))
	var errs []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "Error") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	if len(errs) > 3 {
		errs = errs[len(errs)-3:]
	}
	return strings.Join(errs, "; ")
}

// criuFailed wraps the error of a CRIU operation with the errors its log
// (in work, named name) ends with.
func criuFailed(err error, work, name string) error {
	log := filepath.Join(work, name)
	if errs := criuLogErrors(log); errs != "" {
		return fmt.Errorf("%w: %s (log: %s)", err, errs, log)
	}
	return fmt.Errorf("%w (log: %s)", err, log)
}

// runCriu starts `criu swrk` as the caller's child, serving on a new
// socket, and returns the caller's end and a wait for criu's exit (after
// the caller's end is closed).
func (r *Runtime) runCriu(ctx context.Context, codec criu.Codec) (*criuConn, func() error, error) {
	path, err := r.criuPath()
	if err != nil {
		return nil, nil, err
	}
	conn, theirs, err := criuSocketPair(codec)
	if err != nil {
		return nil, nil, err
	}
	defer theirs.Close()
	cmd := exec.Command(path, "swrk", "3")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start criu: %w", err)
	}
	wait := func() error {
		conn.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("criu swrk: %w", err)
		}
		return nil
	}
	return conn, wait, nil
}
