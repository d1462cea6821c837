package container

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
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
			// crictl names containers by a prefix of their id.
			if got, err := e.m.Get(c.ID[:12]); err != nil || got.ID != c.ID {
				t.Errorf("Get by prefix: %v, %v", got, err)
			}
			if err := e.m.Start(context.Background(), c.ID[:12]); err != nil {
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

func TestReadersDoNotWaitForOperations(t *testing.T) {
	e := newEnv(t)
	sb := e.pod(t, "readers", sandbox.ModeContainer)
	c := e.run(t, sb, config("slow", "trap '' TERM; echo ready; while true; do sleep 1; done"))
	waitLog(t, c.LogPath, "ready")
	stopped := make(chan error, 1)
	go func() { stopped <- e.m.Stop(context.Background(), c.ID, time.Hour) }()
	// Stop holds the container's lock until the process is gone, which
	// only the SIGKILL below (through the cgroup, not through Stop) makes
	// happen.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		_, unlock, err := e.m.index.TryAcquire(c.ID)
		if errors.Is(err, errdefs.ErrUnavailable) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		if time.Now().After(deadline) {
			t.Fatal("Stop never took the container's lock")
		}
	}
	got, err := e.m.Get(c.ID)
	if err != nil || got.State != StateRunning {
		t.Errorf("Get during Stop: %+v, %v; want the running container", got, err)
	}
	if list := e.m.List(); len(list) != 1 {
		t.Errorf("List during Stop: %d containers", len(list))
	}
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned before the container exited: %v", err)
	default:
	}
	if err := e.rt.Kill(context.Background(), c.ID, 9, true); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestManyContainersInParallel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.pod(t, "many", sandbox.ModeContainer)
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", i)
			c, err := e.m.Create(ctx, sb.ID, config(name, fmt.Sprintf("exit %d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			if err := e.m.Start(ctx, c.ID); err != nil {
				t.Error(err)
				return
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				got, err := e.m.Get(c.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if got.State == StateExited {
					if got.ExitCode != int32(i) {
						t.Errorf("container %s exited %d, want %d", name, got.ExitCode, i)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("container %s still %s", name, got.State)
					return
				}
			}
			if err := e.m.Remove(ctx, c.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	assertNothingLeft(t, e)
}

// PodContainers lists one pod's containers, oldest first, and no other's.
func TestPodContainers(t *testing.T) {
	e := newEnv(t)
	a, b := e.pod(t, "pod-a", sandbox.ModeContainer), e.pod(t, "pod-b", sandbox.ModeContainer)
	first := e.create(t, a, config("first", "sleep 100"))
	other := e.create(t, b, config("other", "sleep 100"))
	second := e.create(t, a, config("second", "sleep 100"))
	var got []string
	for _, c := range e.m.PodContainers(a.ID) {
		got = append(got, c.ID)
	}
	if want := []string{first.ID, second.ID}; !slices.Equal(got, want) {
		t.Errorf("PodContainers(pod-a) = %v, want %v", got, want)
	}
	if got := e.m.PodContainers(b.ID); len(got) != 1 || got[0].ID != other.ID {
		t.Errorf("PodContainers(pod-b) = %v, want %s only", got, other.ID)
	}
	if got := e.m.PodContainers("no-such-pod"); len(got) != 0 {
		t.Errorf("PodContainers of an unknown pod = %v", got)
	}
}
