package oci

import (
	"fmt"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupCredentials switches to the process's user, groups and umask and
// sets its capabilities. Capabilities survive the switch from root through
// PR_SET_KEEPCAPS.
func setupCredentials(proc *specs.Process) error {
	var caps *capSets
	if proc.Capabilities != nil {
		var err error
		if caps, err = newCapSets(proc.Capabilities); err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
		if err := caps.dropBounding(); err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities: %w", err)
		}
	}
	u := proc.User
	groups := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		groups = append(groups, int(g))
	}
	// syscall's setters apply to every thread of the Go runtime.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("process.user.additionalGids: %w", err)
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, err)
	}
	if caps != nil {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities: %w", err)
		}
		if err := caps.apply(); err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
	}
	umask := 0o022
	if u.Umask != nil {
		umask = int(*u.Umask)
	}
	unix.Umask(umask)
	return nil
}
