package proc

import (
	"fmt"
	"strings"
	"testing"
)

// statLine is a /proc/<pid>/stat line as the kernel writes it for a
// process named comm in state with start time start.
func statLine(comm string, state byte, start uint64) string {
	// Fields 3 to 21, then starttime (22), then the rest.
	return fmt.Sprintf("4242 (%s) %c 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 2457600 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
		comm, state, start)
}

// A process names itself: its name must not move the fields crisp reads.
func TestParseStatHostileNames(t *testing.T) {
	for _, comm := range []string{"sleep", "a b", "x) Z 1 2 3", ")", "((", ") R 1", "x)\n0 0"} {
		start, state, err := parseStat([]byte(statLine(comm, 'S', 123456)))
		if err != nil || start != 123456 || state != 'S' {
			t.Errorf("name %q: %d %q %v, want 123456 'S'", comm, start, state, err)
		}
	}
	for _, bad := range []string{"", "4242 sleep S 1", "4242 (sleep) S 1 2", "4242 (sleep) SS" + strings.Repeat(" 0", 30),
		"4242 (sleep) S" + strings.Repeat(" 0", 18) + " -1"} {
		if _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseStat checks that any name a process can give itself (up to 15
// bytes, no NUL) leaves its state and start time read right, and that no
// input makes the parser panic.
func FuzzParseStat(f *testing.F) {
	f.Add("sleep", byte('S'), uint64(1))
	f.Add("x) Z 1 2 3 4 5", byte('R'), uint64(99))
	f.Add(")))", byte('Z'), uint64(0))
	f.Fuzz(func(t *testing.T, comm string, state byte, start uint64) {
		parseStat([]byte(comm)) // arbitrary bytes: no panic
		if len(comm) > 15 || strings.IndexByte(comm, 0) >= 0 || state < 'A' || state > 'Z' {
			return
		}
		gotStart, gotState, err := parseStat([]byte(statLine(comm, state, start)))
		if err != nil || gotStart != start || gotState != state {
			t.Errorf("name %q: %d %q %v, want %d %q", comm, gotStart, gotState, err, start, state)
		}
	})
}
