package oci

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// spawned is a crisp process that pkg/oci executes (a launch's, a spare's)
// and reaps itself. It is started with syscall.StartProcess, not os/exec:
// the first os/exec start in a process forks once more to probe whether
// clone gives pidfds, which every `crisp oci run` would pay for (about
// 0.7 ms) and which nothing here uses.
type spawned struct {
	pid int

	once   sync.Once
	mu     sync.Mutex // held while the process is reaped
	waited bool
	status unix.WaitStatus
	err    error
}

// spawn executes path with args and env. stdio are the descriptors 0
// to 2 (nil: /dev/null, as os/exec gives); extra follow from 3 in order.
func spawn(path string, args, env []string, stdio [3]*os.File, extra []*os.File) (*spawned, error) {
	files := make([]uintptr, 0, 3+len(extra))
	var devNull *os.File
	for _, f := range stdio {
		if f == nil {
			if devNull == nil {
				var err error
				if devNull, err = os.OpenFile(os.DevNull, os.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
					return nil, err
				}
				defer devNull.Close()
			}
			f = devNull
		}
		files = append(files, f.Fd())
	}
	for _, f := range extra {
		files = append(files, f.Fd())
	}
	pid, _, err := syscall.StartProcess(path, args, &syscall.ProcAttr{Env: env, Files: files})
	runtime.KeepAlive(stdio)
	runtime.KeepAlive(extra)
	if err != nil {
		return nil, &os.PathError{Op: "fork/exec", Path: path, Err: err}
	}
	return &spawned{pid: pid}, nil
}

// wait reaps the process once and returns how it ended; later calls return
// the same.
func (c *spawned) wait() (unix.WaitStatus, error) {
	c.once.Do(func() {
		// Wait for the end without reaping, then reap under mu: kill
		// never signals a pid that is free again.
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, c.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for {
			_, err := unix.Wait4(c.pid, &c.status, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				if err != nil {
					c.err = fmt.Errorf("wait for %d: %w", c.pid, err)
				}
				break
			}
		}
		c.waited = true
	})
	return c.status, c.err
}

// waitSuccess waits for a process that has only to fork and exit: any
// other end than exit code 0 is an error.
func (c *spawned) waitSuccess() error {
	ws, err := c.wait()
	if err == nil && exitCode(ws) != 0 {
		err = fmt.Errorf("it ended with status %#x", uint32(ws))
	}
	return err
}

// exited reports whether wait has reaped the process.
func (c *spawned) exited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waited
}

// kill sends SIGKILL unless the process is reaped already: until then its
// pid names no other process.
func (c *spawned) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.waited {
		_ = unix.Kill(c.pid, unix.SIGKILL)
	}
}

// exitCode is the process's exit code, or -1 when a signal ended it (as
// os.ProcessState.ExitCode).
func exitCode(ws unix.WaitStatus) int {
	if ws.Exited() {
		return ws.ExitStatus()
	}
	return -1
}
