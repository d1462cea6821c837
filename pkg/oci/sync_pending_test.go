package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// syncPair is a sync connection and the init's end of it, as launch makes.
func syncPair(t testing.TB) (*syncConn, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "init")
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	return newSyncConn(ours), theirs
}

// What the init sent after a read was cut off by the caller's deadline is
// still read: abort learns from it which processes to wait for.
func TestSyncPendingAfterDeadline(t *testing.T) {
	c, theirs := syncPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	stop := c.watch(ctx)
	defer stop()
	cancel()
	if _, err := c.expect(); err == nil {
		t.Fatal("a read after the context ended succeeded")
	}
	if _, err := theirs.WriteString(`{"type":"monitor","pid":41}` + "\n" + `{"type":"init","pid":42}` + "\n"); err != nil {
		t.Fatal(err)
	}
	got := c.pending()
	if len(got) != 2 || got[0].Type != msgMonitor || got[0].Pid != 41 || got[1].Type != msgInit || got[1].Pid != 42 {
		t.Fatalf("pending after the deadline = %+v, want the monitor 41 and the init 42", got)
	}
	if again := c.pending(); len(again) != 0 {
		t.Errorf("pending read twice: %+v", again)
	}
}

// A line that is not a message ends what pending believes: nothing after
// garbage, a line cut short or an oversized flood is taken for a message,
// and pending reads no more than maxPending bytes.
func TestSyncPendingHostile(t *testing.T) {
	line := `{"type":"init","pid":7}` + "\n"
	for _, tc := range []struct {
		name string
		sent string
		want int
	}{
		{"garbage between", line + "not json\n" + line, 1},
		{"cut short", line + `{"type":"init","pi`, 1},
		{"binary", "\x00\xff\xfe" + line, 0},
		{"empty lines", "\n\n" + line + "\n", 1},
		{"flood", strings.Repeat(line, 3*maxPending/len(line)), maxPending / len(line)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, theirs := syncPair(t)
			if _, err := theirs.WriteString(tc.sent); err != nil {
				t.Fatal(err)
			}
			got := c.pending()
			// The flood's last line read may be cut short: at most want.
			if len(got) > tc.want || (tc.name != "flood" && len(got) != tc.want) {
				t.Fatalf("pending = %d messages, want %d", len(got), tc.want)
			}
			for _, m := range got {
				if m.Type != msgInit || m.Pid != 7 {
					t.Errorf("pending made up a message: %+v", m)
				}
			}
		})
	}
}

// FuzzSyncPending: any bytes from the init are read without blocking or
// panicking, within maxPending, and each message pending returns is one
// whole line of them that parses as a message.
func FuzzSyncPending(f *testing.F) {
	f.Add([]byte(`{"type":"monitor","pid":1}` + "\n" + `{"type":"init","pid":2}` + "\n"))
	f.Add([]byte(`{"type":"error","message":"x","field":"process.args"}` + "\n"))
	f.Add([]byte(`{"type":"init","pid":-1}` + "\n{"))
	f.Add([]byte("\n\n\x00"))
	f.Fuzz(func(t *testing.T, sent []byte) {
		if len(sent) > 2*maxPending {
			return // more than a socket buffer holds without a reader
		}
		c, theirs := syncPair(t)
		if len(sent) > 0 {
			if _, err := theirs.Write(sent); err != nil {
				t.Fatal(err)
			}
		}
		got := c.pending()
		lines := bytes.Split(sent[:min(len(sent), maxPending)], []byte{'\n'})
		i := 0
		for _, m := range got {
			for i < len(lines) && len(bytes.TrimSpace(lines[i])) == 0 {
				i++
			}
			if i == len(lines) {
				t.Fatalf("pending returned %+v beyond the lines sent", m)
			}
			var want message
			if err := json.Unmarshal(lines[i], &want); err != nil || want != m {
				t.Fatalf("pending returned %+v for line %q", m, lines[i])
			}
			i++
		}
	})
}
