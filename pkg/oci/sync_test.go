package oci

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A setup read cut off by the caller's deadline reports the deadline, so
// ExecSync past its timeout says so even when the exec was still being set
// up on a loaded machine.
func TestSyncReadCutByDeadlineReportsIt(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "init")
	defer ours.Close()
	defer theirs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c := newSyncConn(ours)
	stop := c.watch(ctx)
	defer stop()
	_, err = c.expect()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want context.DeadlineExceeded", err)
	}
}
