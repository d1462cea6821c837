package seccomp

import (
	"fmt"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// Install loads the filter into every thread of the calling process. The
// caller must have set no_new_privs or hold CAP_SYS_ADMIN.
func (f *Filter) Install() error {
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC)
	for _, fl := range f.flags {
		v, ok := filterFlags[fl]
		if !ok {
			return fmt.Errorf("flags: unknown flag %q", fl)
		}
		flags |= v
	}
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&f.prog[0]))}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("install seccomp filter: %w", errno)
	}
	return nil
}
