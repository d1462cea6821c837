package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// logLine is one line of a CRI log.
type logLine struct {
	when        time.Time
	stream, tag string
	content     string
}

func readLog(t *testing.T, path string) []logLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLog(t, data)
}

// readLogSoFar reads the complete lines of a log the monitor is still
// writing: the last line may be cut where a read met a write.
func readLogSoFar(t *testing.T, path string) []logLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLog(t, data[:bytes.LastIndexByte(data, '\n')+1])
}

func parseLog(t *testing.T, data []byte) []logLine {
	t.Helper()
	var lines []logLine
	for _, text := range strings.SplitAfter(string(data), "\n") {
		if text == "" {
			continue
		}
		if !strings.HasSuffix(text, "\n") {
			t.Fatalf("log ends in a partial line %q", text)
		}
		f := strings.SplitN(strings.TrimSuffix(text, "\n"), " ", 4)
		if len(f) != 4 {
			t.Fatalf("log line %q is not <time> <stream> <tag> <content>", text)
		}
		when, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			t.Fatalf("log line %q: %v", text, err)
		}
		lines = append(lines, logLine{when, f[1], f[2], f[3]})
	}
	return lines
}

// stream returns the tag and content of a stream's lines, in order.
func stream(lines []logLine, name string) []string {
	var out []string
	for _, l := range lines {
		if l.stream == name {
			out = append(out, l.tag+" "+l.content)
		}
	}
	return out
}

func runLogged(t *testing.T, rt *Runtime, id, logPath string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Create(ctx, id, writeBundle(t, testSpec(t, args...)), CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), id, true) })
	if err := rt.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestContainerLog checks the kubelet's CRI log format written by the
// monitor: both streams, lines in order, an unended last line written as a
// P piece (kubelet's reader adds no newline to it), and a line longer than
// 16 KiB split into P pieces and an F end.
func TestContainerLog(t *testing.T) {
	rt := newTestRuntime(t)
	logPath := filepath.Join(t.TempDir(), "c.log")
	started := time.Now()
	runLogged(t, rt, "logged", logPath, "sh", "-c",
		"echo out1; echo err1 >&2; echo out2; head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'no newline'")
	lines := readLog(t, logPath)
	for _, l := range lines {
		if l.when.Before(started.Add(-time.Second)) || l.when.After(time.Now().Add(time.Second)) {
			t.Errorf("line %q has time %s, outside the run", l.content, l.when)
		}
	}
	a := strings.Repeat("a", 16*1024)
	want := []string{"F out1", "F out2", "P " + a, "P " + a, "F " + strings.Repeat("a", 40000-2*16*1024), "P no newline"}
	if got := stream(lines, "stdout"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stdout lines %.200q, want %.200q", got, want)
	}
	if got := stream(lines, "stderr"); len(got) != 1 || got[0] != "F err1" {
		t.Errorf("stderr lines %q, want [\"F err1\"]", got)
	}
}

// TestContainerLogReopen rotates a running container's log as the kubelet
// does: rename, then ReopenLog; later lines go to the new file.
func TestContainerLogReopen(t *testing.T) {
	rt := newTestRuntime(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "c.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startRotated(ctx, t, rt, logPath)
	if err := rt.ReopenLog(ctx, "rotated"); err != nil {
		t.Fatal(err)
	}
	finishRotated(ctx, t, rt)
	if got := stream(readLog(t, logPath+".1"), "stdout"); len(got) != 1 || got[0] != "F first" {
		t.Errorf("rotated log %q, want [\"F first\"]", got)
	}
	if got := stream(readLog(t, logPath), "stdout"); len(got) != 1 || got[0] != "F second" {
		t.Errorf("new log %q, want [\"F second\"]", got)
	}
}

// TestContainerLogPathErrors: a relative path is refused naming the
// field; a log that cannot be opened fails create and leaves nothing.
func TestContainerLogPathErrors(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "true")
	err := rt.Create(context.Background(), "badlog", writeBundle(t, spec), CreateOptions{LogPath: "relative.log"})
	var fe *errdefs.FieldError
	if !errors.As(err, &fe) || fe.Field != "log path" {
		t.Errorf("relative log path: %v, want a field error naming the log path", err)
	}
	err = rt.Create(context.Background(), "badlog", writeBundle(t, spec), CreateOptions{LogPath: "/nonexistent/dir/c.log"})
	if err == nil || !strings.Contains(err.Error(), "open container log") {
		t.Errorf("log in a missing directory: %v, want the open error", err)
	}
	if _, err := rt.State(context.Background(), "badlog"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("state after the failed create: %v, want not found", err)
	}
}

// startRotated runs container "rotated", which logs "first" to logPath,
// then "second" once the test removes /dev/shm/wait, and rotates its log
// to logPath.1 after the first line, as kubelet does.
func startRotated(ctx context.Context, t *testing.T, rt *Runtime, logPath string) {
	t.Helper()
	spec := testSpec(t, "sh", "-c", "touch /dev/shm/wait; echo first; while [ -e /dev/shm/wait ]; do sleep 0.02; done; echo second")
	if err := rt.Create(ctx, "rotated", writeBundle(t, spec), CreateOptions{LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Delete(context.Background(), "rotated", true) })
	if err := rt.Start(ctx, "rotated"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		if data, _ := os.ReadFile(logPath); strings.Contains(string(data), "first") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
}

// finishRotated lets container "rotated" log "second" and waits for its
// exit.
func finishRotated(ctx context.Context, t *testing.T, rt *Runtime) {
	t.Helper()
	st, err := rt.State(ctx, "rotated")
	if err != nil {
		t.Fatal(err)
	}
	// The container's /dev/shm, seen from the host through its root.
	if err := os.Remove(fmt.Sprintf("/proc/%d/root/dev/shm/wait", st.Pid)); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "rotated"); err != nil {
		t.Fatal(err)
	}
}
