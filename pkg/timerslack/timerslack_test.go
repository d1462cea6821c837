package timerslack

import (
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadSlack reads the calling thread's timer slack.
func threadSlack(t *testing.T) string {
	t.Helper()
	slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(slack)
}

// A process started through With has the slack; the starting thread keeps
// its own, and a zero slack changes nothing.
func TestWith(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own := threadSlack(t)
	for _, tc := range []struct {
		slack time.Duration
		want  string
	}{
		{777 * time.Microsecond, "777000"},
		{0, own},
	} {
		cmd := exec.Command("cat", "/proc/self/timerslack_ns")
		var out strings.Builder
		cmd.Stdout = &out
		if err := With(tc.slack, cmd.Run); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != tc.want {
			t.Errorf("slack %s: the process has %s ns, want %s", tc.slack, got, tc.want)
		}
		if got := threadSlack(t); got != own {
			t.Errorf("slack %s: the starting thread has %s ns after, want its own %s", tc.slack, got, own)
		}
	}
}

// A slack out of bounds starts nothing.
func TestWithRefusesOutOfBounds(t *testing.T) {
	for _, slack := range []time.Duration{-time.Microsecond, Max + time.Nanosecond} {
		started := false
		if err := With(slack, func() error { started = true; return nil }); err == nil || started {
			t.Errorf("With(%s): err %v, started %v; want an error and nothing started", slack, err, started)
		}
	}
}
