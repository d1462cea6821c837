package timerslack

import (
	"fmt"
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

// Concurrent starts each give their process their own slack, and leave
// every thread of the program as it was: no slack leaks from one start
// into another, or into a thread a later goroutine runs on.
func TestWithConcurrent(t *testing.T) {
	runtime.LockOSThread()
	own := threadSlack(t)
	runtime.UnlockOSThread()
	const starts = 16
	errs := make(chan error, starts)
	for i := range starts {
		go func() {
			slack := time.Duration(i+1) * 100 * time.Microsecond
			cmd := exec.Command("cat", "/proc/self/timerslack_ns")
			var out strings.Builder
			cmd.Stdout = &out
			if err := With(slack, cmd.Run); err != nil {
				errs <- err
				return
			}
			if got, want := strings.TrimSpace(out.String()), strconv.FormatInt(slack.Nanoseconds(), 10); got != want {
				errs <- fmt.Errorf("slack %s: the process has %s ns", slack, got)
				return
			}
			errs <- nil
		}()
	}
	for range starts {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The threads the starts ran on have the slack they had before: each
	// goroutine here holds a thread of its own while it reads.
	seen := make(chan string, starts)
	release := make(chan struct{})
	for range starts {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			slack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
			if err != nil {
				seen <- err.Error()
			} else {
				seen <- strconv.Itoa(slack)
			}
			<-release
		}()
	}
	for range starts {
		if got := <-seen; got != own {
			t.Errorf("a thread has slack %s ns after the starts, want %s", got, own)
		}
	}
	close(release)
}
