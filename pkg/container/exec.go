package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"

	"github.com/crisp-runtime/crisp/internal/capped"
	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/oci"
)

// maxExecSyncOutput caps each of an ExecSync's stdout and stderr, as
// kubelet's own limit for probe and exec output is 16 MiB; more is read
// and dropped, so the process never blocks on a full pipe.
const maxExecSyncOutput = 16 << 20

// ExecSync runs cmd in a running container, as its process runs (user,
// environment, working directory, capabilities, no_new_privs, rlimits, the
// container's seccomp profile) without a terminal, and returns its output
// and exit code. A timeout of zero means none; when it runs out the process
// is killed and the error matches context.DeadlineExceeded.
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error) {
	if len(cmd) == 0 {
		return nil, nil, 0, errdefs.InvalidField("cmd", "must not be empty")
	}
	// Execs run alongside the container's other operations: a probe must
	// not wait for a Stop, which it could not stop.
	c, err := m.Get(id)
	if err != nil {
		return nil, nil, 0, err
	}
	if c.State != StateRunning {
		return nil, nil, 0, fmt.Errorf("container %s is %s, not running: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	s, err := m.opts.Runtime.Spec(ctx, c.ID)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("command %q timed out after %s: %w", cmd, timeout, context.DeadlineExceeded))
		defer cancel()
	}

	outBuf, errBuf := capped.Buffer{Max: maxExecSyncOutput}, capped.Buffer{Max: maxExecSyncOutput}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	var copies sync.WaitGroup
	for _, p := range []struct {
		r   *os.File
		buf *capped.Buffer
	}{{outR, &outBuf}, {errR, &errBuf}} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(p.buf, p.r)
		}()
	}
	// finish ends the copies, even if something the process left behind
	// still holds the write ends; the buffers are complete after it.
	finish := func() {
		outR.Close()
		errR.Close()
		copies.Wait()
	}

	proc, err := m.opts.Runtime.Exec(ctx, c.ID, execProcess(s.Process, cmd), oci.ExecOptions{Stdout: outW, Stderr: errW})
	outW.Close()
	errW.Close()
	if err != nil {
		finish()
		return nil, nil, 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
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
	select {
	case r := <-exited:
		if r.err != nil {
			finish()
			return nil, nil, 0, fmt.Errorf("exec in container %s: %w", c.ID, r.err)
		}
		// The output is complete once every writer is gone: the process
		// and whatever it started in the background. Wait for that only
		// as long as the exec may take.
		drained := make(chan struct{})
		go func() {
			copies.Wait()
			close(drained)
		}()
		select {
		case <-drained:
		case <-ctx.Done():
			klog.V(2).InfoS("Exec output still open after the process exited", "container", c.ID, "cmd", cmd)
		}
		finish()
		return outBuf.Bytes(), errBuf.Bytes(), int32(r.st.Code), nil
	case <-ctx.Done():
		if err := proc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, unix.ESRCH) {
			klog.ErrorS(err, "Killing timed-out exec", "container", c.ID, "pid", proc.Pid)
		}
		<-exited
		finish()
		return outBuf.Bytes(), errBuf.Bytes(), 0, fmt.Errorf("exec in container %s: %w", c.ID, context.Cause(ctx))
	}
}

// execProcess is the container's process running cmd instead, without a
// terminal; it keeps the container's AppArmor profile, as every other
// attribute.
func execProcess(base *specs.Process, cmd []string) *specs.Process {
	p := *base
	p.Args = slices.Clone(cmd)
	p.CommandLine = ""
	p.Terminal = false
	p.ConsoleSize = nil
	p.Env = slices.Clone(base.Env)
	return &p
}
