package container

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestExecSync(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "exec", sandbox.ModeContainer)
	cfg := config("exec", "echo ready; sleep 1000")
	cfg.WorkingDir = "/tmp"
	c := e.run(t, sb, cfg)
	waitLog(t, c.LogPath, "ready")

	tests := []struct {
		name           string
		cmd            []string
		stdout, stderr string
		code           int32
	}{
		{"output and exit code", []string{"sh", "-c", "echo out; echo err >&2; exit 5"}, "out\n", "err\n", 5},
		{"the container's environment and working directory", []string{"sh", "-c", "echo $PATH; pwd"}, "/bin\n/tmp\n", "", 0},
		{"the container's namespaces", []string{"cat", "/proc/1/cmdline"}, "sleep\x001000\x00", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code, err := e.m.ExecSync(ctx, c.ID, tt.cmd, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if string(stdout) != tt.stdout || string(stderr) != tt.stderr || code != tt.code {
				t.Errorf("ExecSync = %q, %q, %d; want %q, %q, %d", stdout, stderr, code, tt.stdout, tt.stderr, tt.code)
			}
		})
	}

	t.Run("output over the cap", func(t *testing.T) {
		// More than kubelet's 16 MiB: the rest is read and dropped, so
		// the process neither blocks nor fails.
		cmd := []string{"sh", "-c", "dd if=/dev/zero bs=1048576 count=17 2>/dev/null; echo done >&2"}
		stdout, stderr, code, err := e.m.ExecSync(ctx, c.ID, cmd, 30*time.Second)
		if err != nil || code != 0 || string(stderr) != "done\n" {
			t.Fatalf("ExecSync of 17 MiB = stderr %q, code %d, %v; want done, 0", stderr, code, err)
		}
		if len(stdout) != maxExecSyncOutput {
			t.Errorf("kept %d bytes of stdout, want the cap, %d", len(stdout), maxExecSyncOutput)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		stdout, _, _, err := e.m.ExecSync(ctx, c.ID, []string{"sh", "-c", "echo started; exec sleep 1000"}, 300*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ExecSync past its timeout: %v, want deadline exceeded", err)
		}
		if string(stdout) != "started\n" {
			t.Errorf("output before the timeout = %q", stdout)
		}
		// The timed-out process was killed: only the container's own
		// process is left in its cgroup.
		procs, err := e.rt.Ps(ctx, c.ID)
		if err != nil || len(procs) != 1 || procs[0] != c.Pid {
			t.Errorf("processes in the container after the timeout: %v, %v; want only %d", procs, err, c.Pid)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		if _, _, _, err := e.m.ExecSync(ctx, c.ID, nil, 0); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ExecSync without a command: %v, want invalid argument", err)
		}
		if _, _, _, err := e.m.ExecSync(ctx, "0123456789", []string{"true"}, 0); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("ExecSync in an unknown container: %v, want not found", err)
		}
	})

	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.m.ExecSync(ctx, c.ID, []string{"true"}, 0); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("ExecSync in an exited container: %v, want failed precondition", err)
	}
}

func TestReopenLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "rotate", sandbox.ModeContainer)
	c := e.run(t, sb, config("counter", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.01; done"))
	waitLog(t, c.LogPath, "line3")
	rotated := c.LogPath + ".1"
	if err := os.Rename(c.LogPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := e.m.ReopenLog(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	old := readLog(t, rotated)
	waitLog(t, c.LogPath, "line"+strconv.Itoa(len(old)+3))
	if err := e.m.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	// Not a line is lost or doubled across the two files.
	all := append(readLog(t, rotated), readLog(t, c.LogPath)...)
	for i, l := range all {
		if !strings.HasSuffix(l, " stdout F line"+strconv.Itoa(i)) {
			t.Fatalf("line %d of the rotated logs is %q", i, l)
		}
	}
	if err := e.m.ReopenLog(ctx, c.ID); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("ReopenLog of an exited container: %v, want failed precondition", err)
	}
}
