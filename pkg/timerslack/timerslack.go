// Package timerslack starts processes with a timer slack of their own.
//
// The kernel may fire a thread's timers up to its timer slack late, to
// coalesce wake-ups (50 µs unless set). A short-lived Go program wakes its
// runtime's sysmon thread every 20 µs to a few milliseconds while it
// works, and on a small virtual machine each wake-up is a context switch
// that preempts the program's own thread; a larger slack lets the kernel
// batch them. A process inherits the slack of the thread that forks it and
// keeps it across execve, so crisp sets it on the forking thread: for the
// CNI plugins the daemon runs (pkg/network), and, in crisp-oci, whose own
// threads run with a larger slack, back to the caller's for the processes
// it starts (pkg/oci).
package timerslack

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Max bounds the slack this package sets: a slack beyond the timeouts of
// the processes it is given to would change what they do.
const Max = 100 * time.Millisecond

// With runs start, which starts a process, on an OS thread whose timer
// slack is slack for the while, so that the process inherits it; other
// threads keep theirs. A zero slack runs start as it is. With keeps the
// calling goroutine on its thread until start returns, so start may also
// wait for the process (os/exec's Run).
func With(slack time.Duration, start func() error) error {
	if slack == 0 {
		return start()
	}
	if slack < 0 || slack > Max {
		return fmt.Errorf("timer slack %s is not between 0 and %s", slack, Max)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("read timer slack: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack.Nanoseconds()), 0, 0, 0); err != nil {
		return fmt.Errorf("set timer slack %s for a process: %w", slack, err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0)
	return start()
}
