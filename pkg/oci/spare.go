package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/pkg/oci/nsenter"
	"github.com/crisp-runtime/crisp/pkg/proc"
)

// spares keeps one crisp process executed ahead of use (a spare, spare.c)
// for the next launch of a runtime that creates many containers: a fork and
// an exec of the crisp binary up to its constructor, which a launch no
// longer waits for. A launch takes the spare if one is ready and hands it
// its descriptors and environment; once the launch is done, a new spare is
// made in the background.
// A spare holds nothing of any container and ends when its socket closes,
// with the runtime or with the process that made it.
type spares struct {
	exe *sealedExe

	mu     sync.Mutex
	closed bool
	ready  *spare
	making bool
	made   sync.WaitGroup
}

// spare is a crisp process waiting for a launch, detached (not the
// runtime's child), and the runtime's end of the socket it waits on.
type spare struct {
	proc proc.Ref
	sock *os.File
}

func newSpares(exe *sealedExe) *spares {
	s := &spares{exe: exe}
	s.refill()
	return s
}

// take returns the ready spare, or nil. The launch that takes it has the
// next one made once it is done (refill): made at once, the next spare's
// exec of crisp would compete for the CPU with the very launch it is
// meant to speed up.
func (s *spares) take() *spare {
	s.mu.Lock()
	sp := s.ready
	s.ready = nil
	s.mu.Unlock()
	return sp
}

// refill makes a spare in the background unless one is ready or being
// made, or the runtime closed.
func (s *spares) refill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ready != nil || s.making {
		return
	}
	s.making = true
	s.made.Add(1)
	go func() {
		defer s.made.Done()
		sp, err := startSpare(s.exe)
		if err != nil {
			klog.ErrorS(err, "Starting a spare crisp process; launches execute crisp themselves")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.making = false
		if sp == nil {
			return
		}
		if s.closed {
			sp.discard()
			return
		}
		s.ready = sp
	}()
}

// close ends the ready spare and the one being made.
func (s *spares) close() {
	s.mu.Lock()
	s.closed = true
	sp := s.ready
	s.ready = nil
	s.mu.Unlock()
	if sp != nil {
		sp.discard()
	}
	s.made.Wait()
}

// startSpare executes crisp as a spare.
func startSpare(exe *sealedExe) (*spare, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("spare socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "spare")
	theirs := os.NewFile(uintptr(fds[1]), "spare-child")
	defer theirs.Close()
	cmd, err := spawn("/proc/self/fd/4", []string{"crisp", "init"},
		[]string{nsenter.SpareEnv + "=3", nsenter.SpareExeEnv + "=4"}, [3]*os.File{}, []*os.File{theirs, exe.file})
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("start spare crisp: %w", err)
	}
	// The process forks the spare and exits.
	if err := cmd.waitSuccess(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("start spare crisp: %w", err)
	}
	theirs.Close()
	// The spare's pid, or the end of the socket if it failed.
	buf := make([]byte, 24)
	n, err := unix.Read(int(ours.Fd()), buf)
	if err == nil && n == 0 {
		err = errors.New("it exited")
	}
	var ref proc.Ref
	if err == nil {
		var pid int
		if pid, err = strconv.Atoi(string(buf[:n])); err == nil {
			ref, err = proc.NewRef(pid)
		}
	}
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("start spare crisp: %w", err)
	}
	return &spare{proc: ref, sock: ours}, nil
}

// usable reports whether a launch can be handed to a spare: one whose
// process gets crisp's own standard descriptors (/dev/null, as a spare
// has them) and at most nsenter.SpareMaxFiles others.
func (l *launch) usable(files []*os.File) bool {
	return l.spares != nil && l.detach && l.stdio == [3]*os.File{} && len(files) <= nsenter.SpareMaxFiles
}

// hand gives the spare a launch: the descriptors it would have had from 3
// up, and its environment. The spare then runs as a crisp executed for
// the launch, detached already: it becomes the launch's monitor.
func (sp *spare) hand(env []string, files []*os.File) error {
	defer sp.sock.Close()
	var b strings.Builder
	for _, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 || !strings.Contains(kv, "=") {
			return fmt.Errorf("spare: environment entry %q", kv)
		}
		b.WriteString(kv)
		b.WriteByte(0)
	}
	if b.Len() > nsenter.SpareMaxEnv {
		return fmt.Errorf("spare: %d bytes of environment, more than %d", b.Len(), nsenter.SpareMaxEnv)
	}
	if b.Len() == 0 {
		// An empty message would read as the end of the socket.
		return fmt.Errorf("spare: no environment")
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	// One message on a SOCK_SEQPACKET socket, well under its buffer: the
	// send does not block.
	if err := unix.Sendmsg(int(sp.sock.Fd()), []byte(b.String()), unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("hand launch to spare %d: %w", sp.proc.Pid, err)
	}
	return nil
}

// discard ends a spare that was not handed a launch, and waits until it
// exited.
func (sp *spare) discard() {
	sp.sock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Reaped if this process is a subreaper the spare was reparented to.
	if err := sp.proc.Wait(ctx, true); err != nil {
		klog.ErrorS(err, "Waiting for a spare crisp process to exit", "pid", sp.proc.Pid)
	}
}

// handToSpare hands the launch to a ready spare and reports whether it
// did; otherwise the launch must execute crisp itself: no spare is ready,
// the launch cannot use one, or the spare failed.
func (l *launch) handToSpare(env []string, files []*os.File) bool {
	if !l.usable(files) {
		return false
	}
	sp := l.spares.take()
	if sp == nil {
		return false
	}
	if err := sp.hand(env, files); err != nil {
		klog.ErrorS(err, "Handing a launch to a spare crisp process; executing crisp instead")
		sp.discard()
		return false
	}
	return true
}
