// Package proc owns the identity of a process across time: a pid plus the
// start time /proc gives it, so that a recycled pid is never mistaken for
// the process crisp recorded. Records of containers and pods keep such
// references to the monitors and reapers that outlive crisp's daemon.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Ref names a process robustly: its pid and its start time.
type Ref struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// NewRef reads pid's start time.
func NewRef(pid int) (Ref, error) {
	start, _, err := Stat(pid)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Pid: pid, Start: start}, nil
}

// Alive reports whether the process still runs: the pid exists, has the
// same start time and is not a zombie.
func (r Ref) Alive() bool {
	return Alive(r.Pid, r.Start)
}

// Alive reports whether process pid, started at start, still runs.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	s, state, err := Stat(pid)
	return err == nil && s == start && state != 'Z' && state != 'X'
}

// Stat returns the start time (clock ticks since boot) and state letter of
// process pid from /proc/<pid>/stat. A gone process is an error that
// matches fs.ErrNotExist.
func Stat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return start, fields[0][0], nil
}
