package container

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
	"github.com/crisp-runtime/crisp/pkg/sandbox"
)

func TestExitCodesAndReasons(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "exits", sandbox.ModeContainer)
	tests := []struct {
		name, script string
		code         int32
		reason       string
	}{
		{"ok", "echo hello", 0, ReasonCompleted},
		{"fails", "echo oops >&2; exit 3", 3, ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.create(t, sb, config(tt.name, tt.script))
			if c.State != StateCreated || c.Pid == 0 || c.ImageID != e.imageID || c.ImageRef == "" || c.StopSignal != "SIGTERM" {
				t.Fatalf("created container = %+v", c)
			}
			if err := e.m.Start(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
			got := e.waitExited(t, c.ID)
			if got.ExitCode != tt.code || got.Reason != tt.reason {
				t.Errorf("exit code %d reason %q, want %d %q", got.ExitCode, got.Reason, tt.code, tt.reason)
			}
			if got.StartedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) || got.Pid != 0 {
				t.Errorf("started %v finished %v pid %d", got.StartedAt, got.FinishedAt, got.Pid)
			}
			// Starting it again is refused.
			if err := e.m.Start(context.Background(), c.ID); !errors.Is(err, errdefs.ErrFailedPrecondition) {
				t.Errorf("second Start: %v, want failed precondition", err)
			}
		})
	}
	// The log is in the kubelet's CRI format, one line per write.
	lines := readLog(t, e.m.mustGet(t, "ok").LogPath)
	if len(lines) != 1 || !regexp.MustCompile(`^\S+Z stdout F hello$`).MatchString(lines[0]) {
		t.Errorf("log of ok = %q, want one CRI stdout line of hello", lines)
	}
	lines = readLog(t, e.m.mustGet(t, "fails").LogPath)
	if len(lines) != 1 || !regexp.MustCompile(`^\S+Z stderr F oops$`).MatchString(lines[0]) {
		t.Errorf("log of fails = %q, want one CRI stderr line of oops", lines)
	}
}

// mustGet finds the only container named name.
func (m *Manager) mustGet(t *testing.T, name string) *Container {
	t.Helper()
	for _, c := range m.List() {
		if c.Metadata.Name == name {
			return c
		}
	}
	t.Fatalf("no container named %s", name)
	return nil
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "stop", sandbox.ModeContainer)
	// The shell ignores SIGTERM; the sleep is its child (pid 1 of its PID
	// namespace ignores it anyway without a handler).
	c := e.run(t, sb, config("stubborn", "trap '' TERM; echo ready; while true; do sleep 1; done"))
	waitLog(t, c.LogPath, "ready")
	start := time.Now()
	if err := e.m.Stop(context.Background(), c.ID, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("Stop returned after %v, before the timeout ran out", waited)
	}
	got, _ := e.m.Get(c.ID)
	if got.State != StateExited || got.ExitCode != 137 || got.Reason != ReasonError {
		t.Errorf("after Stop: state %s code %d reason %q, want exited, 137 (SIGKILL), Error", got.State, got.ExitCode, got.Reason)
	}
	// Stop is idempotent.
	if err := e.m.Stop(context.Background(), c.ID, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopHonouredSIGTERM(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "term", sandbox.ModeContainer)
	c := e.run(t, sb, config("polite", "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done"))
	waitLog(t, c.LogPath, "ready")
	// A SIGKILL would give 137; the handler's exit 0 shows SIGTERM did it.
	if err := e.m.Stop(context.Background(), c.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, _ := e.m.Get(c.ID)
	if got.State != StateExited || got.ExitCode != 0 || got.Reason != ReasonCompleted {
		t.Errorf("after Stop: state %s code %d reason %q, want exited 0 Completed", got.State, got.ExitCode, got.Reason)
	}
}

func TestStopCreatedContainer(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "created", sandbox.ModeContainer)
	c := e.create(t, sb, config("never", "echo never"))
	if err := e.m.Stop(context.Background(), c.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	got, _ := e.m.Get(c.ID)
	if got.State != StateExited || got.ExitCode == 0 || !got.StartedAt.IsZero() {
		t.Errorf("stopped created container: %+v, want exited, never started, non-zero code", got)
	}
	if err := e.m.Start(context.Background(), c.ID); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Start after Stop: %v, want failed precondition", err)
	}
}

// waitLog waits until the log at path has a line ending in text.
func waitLog(t *testing.T, path, text string) {
	t.Helper()
	re := regexp.MustCompile(` ` + regexp.QuoteMeta(text) + `$`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, l := range readLogMaybe(path) {
			if re.MatchString(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s never said %q: %q", path, text, readLogMaybe(path))
		}
	}
}

func TestUnexecutableProcessCannotRun(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "noexec", sandbox.ModeContainer)
	cfg := config("noexec", "true")
	cfg.Command = []string{"/etc/passwd"} // exists, but is no program
	c := e.create(t, sb, cfg)
	if err := e.m.Start(context.Background(), c.ID); err != nil {
		t.Logf("Start: %v", err)
	}
	got := e.waitExited(t, c.ID)
	if got.ExitCode == 0 || got.Reason != ReasonCannotRun || !strings.Contains(got.Message, "exec /etc/passwd") {
		t.Errorf("exit code %d reason %q message %q, want non-zero, %s, naming the exec failure", got.ExitCode, got.Reason, got.Message, ReasonCannotRun)
	}
}
