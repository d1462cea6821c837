package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter return values (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// actionValue converts an action and its errno to a filter return value:
// errnoRet if set, else defaultErrno if set, else EPERM.
func actionValue(a specs.LinuxSeccompAction, errnoRet *uint, defaultErrno *uint) (uint32, error) {
	errno := uint32(unix.EPERM)
	if errnoRet != nil {
		errno = uint32(*errnoRet)
	} else if defaultErrno != nil {
		errno = uint32(*defaultErrno)
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		return retErrno | errno&0xffff, nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActTrace:
		return retTrace | errno&0xffff, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s is not supported", a)
	}
	return 0, fmt.Errorf("unknown action %q", a)
}
