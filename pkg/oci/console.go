package oci

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole makes a pseudo-terminal the process's controlling terminal
// and stdio, and sends its master to the console socket.
func setupConsole(socketFD int, size *specs.Box) error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("process.terminal: open /dev/ptmx: %w", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("process.terminal: unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the peer without a path lookup in /dev/pts.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	sfd := int(r)
	if errno != 0 {
		var err error
		n, nerr := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
		if nerr != nil {
			return fmt.Errorf("process.terminal: pty number: %w", nerr)
		}
		if sfd, err = unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("process.terminal: open pty peer: %w", err)
		}
	}
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(sfd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	rights := unix.UnixRights(mfd)
	if err := unix.Sendmsg(socketFD, []byte("/dev/ptmx"), rights, nil, 0); err != nil {
		return fmt.Errorf("send console to socket: %w", err)
	}
	unix.Close(socketFD)
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("process.terminal: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(sfd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: controlling terminal: %w", err)
	}
	for fd := range 3 {
		if err := unix.Dup3(sfd, fd, 0); err != nil {
			return fmt.Errorf("process.terminal: stdio: %w", err)
		}
	}
	if sfd > 2 {
		unix.Close(sfd)
	}
	return nil
}
