package seccomp

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var filterFlags = map[specs.LinuxSeccompFlag]uintptr{
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// Flags returns the flags of seccomp(SECCOMP_SET_MODE_FILTER) for the
// profile's flags.
func (f *Filter) Flags() (uintptr, error) {
	var flags uintptr
	for _, fl := range f.flags {
		v, ok := filterFlags[fl]
		if !ok {
			return 0, fmt.Errorf("flags: unknown flag %q", fl)
		}
		flags |= v
	}
	return flags, nil
}

// Instructions returns the program as the kernel's struct sock_filter
// array, for a process that installs it itself.
func (f *Filter) Instructions() []byte {
	out := make([]byte, 0, 8*len(f.prog))
	for _, ins := range f.prog {
		out = binary.NativeEndian.AppendUint16(out, ins.Op)
		out = append(out, ins.Jt, ins.Jf)
		out = binary.NativeEndian.AppendUint32(out, ins.K)
	}
	return out
}
