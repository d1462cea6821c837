// Package proc owns the identity of a process across time: a pid plus the
// start time /proc gives it, so that a recycled pid is never mistaken for
// the process crisp recorded. Records of containers and pods keep such
// references to the monitors and reapers that outlive crisp's daemon.
package proc

import (
	"bytes"
	"errors"
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
	start, state, err := parseStat(data)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return start, state, nil
}

// parseStat reads the state letter and start time of a /proc/<pid>/stat
// line. The command name between the parentheses is the process's own
// choice (prctl, the executable's name) and may hold spaces and
// parentheses, so the fields are taken after the last ')'.
func parseStat(data []byte) (uint64, byte, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, errors.New("no command name")
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("%d fields after the command name", len(fields))
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("start time: %w", err)
	}
	return start, fields[0][0], nil
}
