package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// Messages on the sync socket from a process entering a container (all sent
// by pkg/oci/nsenter, in C) to crisp, its parent. The parent answers some
// with an ack, one byte, and sends the init its program.
const (
	msgMonitor = "monitor" // the monitor's pid
	msgCgroup  = "cgroup"  // join the cgroup by pid (no CLONE_INTO_CGROUP); ack
	msgUserns  = "userns"  // write the id maps of pid; ack
	msgInit    = "init"    // the init's pid; the parent sends the init's program
	msgCriu    = "criu"    // a restore's criu is about to run, as the monitor's child
	msgHooks   = "hooks"   // mounts done: run the prestart and createRuntime hooks; ack
	msgWarning = "warning" // something to log
	msgReady   = "ready"   // created; waiting for start (or, for exec, about to execute)
	msgError   = "error"   // setup failed
)

// message is one JSON line on the sync socket.
type message struct {
	Type    string `json:"type"`
	Pid     int    `json:"pid,omitempty"`
	Message string `json:"message,omitempty"`
	// Field names the offending configuration field of an error.
	Field string `json:"field,omitempty"`
}

// syncConn is one end of the sync socket.
type syncConn struct {
	file *os.File
	dec  *json.Decoder
	// watched is the context whose end fails reads and writes; an
	// error it caused carries its cause, so callers see a deadline as
	// one.
	watched context.Context
}

func newSyncConn(f *os.File) *syncConn {
	return &syncConn{file: f, dec: json.NewDecoder(f)}
}

func (c *syncConn) recv(v any) error {
	if err := c.dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("sync: container process exited during setup: %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("sync receive: %w", c.cause(err))
	}
	return nil
}

// cause returns the watched context's error for an I/O error that the
// context's end caused, else err.
func (c *syncConn) cause(err error) error {
	if c.watched != nil && c.watched.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return context.Cause(c.watched)
	}
	return err
}

// maxPending bounds what pending reads: setup sends a few short messages.
const maxPending = 64 << 10

// pending returns the messages that were sent and not yet received, without
// waiting for more: after a failed or cancelled read, what the other side
// said meanwhile (which processes it started). A line that does not parse
// ends the list.
func (c *syncConn) pending() []message {
	data, _ := io.ReadAll(io.LimitReader(c.dec.Buffered(), maxPending))
	if rc, err := c.file.SyscallConn(); err == nil {
		buf := make([]byte, 4096)
		for len(data) < maxPending {
			var n int
			var rerr error
			// Control, not Read: a deadline that ended the wait must not
			// stop this read, which never blocks.
			if err := rc.Control(func(fd uintptr) {
				n, _, rerr = unix.Recvfrom(int(fd), buf[:min(len(buf), maxPending-len(data))], unix.MSG_DONTWAIT)
			}); err != nil || rerr != nil || n <= 0 {
				break
			}
			data = append(data, buf[:n]...)
		}
	}
	var out []message
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m message
		if json.Unmarshal(line, &m) != nil {
			break
		}
		out = append(out, m)
	}
	return out
}

// ack answers a request; the init reads exactly one byte.
func (c *syncConn) ack() error {
	if _, err := c.file.Write([]byte{'\n'}); err != nil {
		return c.cause(err)
	}
	return nil
}

// expect receives one message; an error message becomes an error.
func (c *syncConn) expect() (*message, error) {
	m := &message{}
	if err := c.recv(m); err != nil {
		return nil, err
	}
	if m.Type == msgError {
		if m.Field != "" {
			return nil, fmt.Errorf("container init: %w", errdefs.InvalidField(m.Field, m.Message))
		}
		return nil, fmt.Errorf("container init: %s", m.Message)
	}
	return m, nil
}

// watch makes reads fail once ctx is done; the returned func stops it.
func (c *syncConn) watch(ctx context.Context) func() {
	c.watched = ctx
	stop := context.AfterFunc(ctx, func() { _ = c.file.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// sendProgram sends the init its program.
func (c *syncConn) sendProgram(prog []byte) error {
	if _, err := c.file.Write(prog); err != nil {
		return fmt.Errorf("sync send program: %w", c.cause(err))
	}
	return nil
}

// initConfig is what the parent compiles the init's program from.
type initConfig struct {
	ID      string
	Bundle  string
	Rootfs  string
	Spec    *specs.Spec
	Process *specs.Process
	// Exec is set for a process joining a running container: no root
	// file system setup, no start fifo.
	Exec bool
	// CgroupDir is the container's cgroup directory on the host, bound
	// at /sys/fs/cgroup when the container has no cgroup namespace.
	CgroupDir string
	// StateDirFD (an O_PATH handle of the state directory, where
	// exec.fifo is) and ConsoleFD are descriptor numbers in the init, or -1.
	StateDirFD int
	ConsoleFD  int
	// PreservedFDs is how many descriptors from 3 up the process keeps.
	PreservedFDs int
	// State is what createContainer and startContainer hooks receive.
	State *specs.State
	// NoPivot uses MS_MOVE and chroot instead of pivot_root.
	NoPivot bool
	// SharedMountNS: the container's mount namespace is not its own
	// (joined by path, or the runtime's): its root is entered with chroot
	// and its mounts detached from the namespace.
	SharedMountNS bool
	// RootTreeFD, or -1, is the init's descriptor of a detached copy of
	// the rootfs (openRootTree) that it attaches instead of binding
	// root.path, which its user namespace may not reach.
	RootTreeFD int
	// BindTreeFDs are the init's descriptors of detached copies of bind
	// mount sources (openMountTrees), by index in spec.Mounts, that it
	// attaches instead of binding the sources by path.
	BindTreeFDs map[int]int
	// UserNS and CgroupNS say which namespaces the container has.
	UserNS   bool
	CgroupNS bool
}
