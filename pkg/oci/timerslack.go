package oci

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// timerSlack is the timer slack, in nanoseconds, of the processes a
// Runtime starts (Options.ChildTimerSlack); zero leaves them the slack of
// the thread that starts them.
type timerSlack uint64

// starting runs start, which starts a process, on a thread whose timer
// slack is s for the while: a process inherits the slack of the thread
// that forks it.
func (s timerSlack) starting(start func() error) error {
	if s == 0 {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	own, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("read timer slack: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(s), 0, 0, 0); err != nil {
		return fmt.Errorf("set timer slack %d ns for a process: %w", s, err)
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(own), 0, 0, 0)
	return start()
}
