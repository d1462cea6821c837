package ocicli

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// consoleProxy receives a container's terminal on a private console socket
// and relays it to crisp's own stdio, as runc does for `run` without
// --console-socket.
type consoleProxy struct {
	dir        string
	socketPath string
	ln         *net.UnixListener
	master     *os.File
	saved      *unix.Termios
	done       chan struct{}
}

func newConsoleProxy() (*consoleProxy, error) {
	dir, err := os.MkdirTemp("", "crisp-console-")
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	path := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &consoleProxy{dir: dir, socketPath: path, ln: ln, done: make(chan struct{})}, nil
}

// accept receives the terminal's master.
func (c *consoleProxy) accept() error {
	_ = c.ln.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("console socket: no terminal received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return fmt.Errorf("console socket: no terminal received")
	}
	c.master = os.NewFile(uintptr(fds[0]), "pty-master")
	return nil
}

// relay copies between crisp's stdio and the terminal, with crisp's own
// terminal (if any) in raw mode.
func (c *consoleProxy) relay() {
	if t, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		c.saved = t
		raw := *t
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		_ = unix.IoctlSetTermios(0, unix.TCSETS, &raw)
		c.resize()
	}
	go func() { _, _ = io.Copy(c.master, os.Stdin) }()
	go func() {
		_, _ = io.Copy(os.Stdout, c.master)
		close(c.done)
	}()
}

// resize gives the container's terminal the size of crisp's.
func (c *consoleProxy) resize() {
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil && c.master != nil {
		_ = unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// drain waits for the terminal's last output once the container exited.
func (c *consoleProxy) drain() {
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
}

// Close restores crisp's terminal and removes the socket.
func (c *consoleProxy) Close() error {
	if c.saved != nil {
		_ = unix.IoctlSetTermios(0, unix.TCSETS, c.saved)
	}
	if c.master != nil {
		c.master.Close()
	}
	c.ln.Close()
	return os.RemoveAll(c.dir)
}
