package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crisp-runtime/crisp/pkg/errdefs"
)

// maxSysctlValue bounds a sysctl value: the kernel reads at most a page
// from a /proc/sys write, and no namespaced sysctl takes more than a few
// numbers.
const maxSysctlValue = 4096

// ipcSysctls are the kernel's IPC-namespaced sysctls (ipc/ipc_sysctl.c) in
// kernel.*; fs.mqueue.* is IPC-namespaced as a whole (ipc/mq_sysctl.c).
var ipcSysctls = map[string]bool{
	"kernel.shmmax": true, "kernel.shmall": true, "kernel.shmmni": true,
	"kernel.shm_rmid_forced": true, "kernel.shm_next_id": true,
	"kernel.msgmax": true, "kernel.msgmni": true, "kernel.msgmnb": true,
	"kernel.auto_msgmni": true, "kernel.msg_next_id": true,
	"kernel.sem": true, "kernel.sem_next_id": true,
}

// sysctlNamespace says which pod namespace a sysctl belongs to; a sysctl
// that belongs to none is host-wide and is refused. The lists follow the
// kernel's namespaced sysctls, as runc does. kernel.hostname is UTS too, but
// the pod's hostname field sets it; like runc, crisp refuses the sysctl
// rather than let two fields disagree.
func sysctlNamespace(key string) (NamespaceKind, bool) {
	switch {
	case strings.HasPrefix(key, "net."):
		return NamespaceNet, true
	case ipcSysctls[key], strings.HasPrefix(key, "fs.mqueue."):
		return NamespaceIPC, true
	case key == "kernel.domainname":
		return NamespaceUTS, true
	}
	return "", false
}

// ValidateSysctls refuses host-wide sysctls, sysctls of a namespace the pod
// shares with the host (a pod on the host network also keeps the host's UTS
// namespace), malformed names and values that do not fit in one /proc/sys
// write. Errors name the field linux.sysctls[<name>]. spec's namespace modes
// must be set.
func ValidateSysctls(spec *Spec) error {
	return validateSysctls(spec)
}

func validateSysctls(spec *Spec) error {
	owns := map[NamespaceKind]bool{}
	for _, k := range (&Sandbox{Spec: *spec}).newNamespaces() {
		owns[k] = true
	}
	for key, value := range spec.Sysctls {
		field := "linux.sysctls[" + key + "]"
		if err := checkSysctlName(key); err != nil {
			return errdefs.InvalidField(field, err.Error())
		}
		if key == "kernel.hostname" {
			return errdefs.InvalidField(field, "set the pod's hostname instead")
		}
		ns, ok := sysctlNamespace(key)
		if !ok {
			return errdefs.InvalidField(field, "not a namespaced sysctl; host-wide sysctls cannot be set for a pod")
		}
		if !owns[ns] {
			return errdefs.InvalidField(field, fmt.Sprintf("the pod shares the host's %s namespace", ns))
		}
		if err := checkSysctlValue(value); err != nil {
			return errdefs.InvalidField(field, err.Error())
		}
	}
	return nil
}

// checkSysctlName accepts dotted names of non-empty components without a
// path separator, so that the name maps to exactly one file below /proc/sys.
func checkSysctlName(key string) error {
	if key == "" || len(key) > 255 {
		return fmt.Errorf("name must be 1 to 255 bytes")
	}
	for _, part := range strings.Split(key, ".") {
		if part == "" {
			return fmt.Errorf("name has an empty component")
		}
	}
	for _, r := range key {
		if r == '/' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("name contains %q", r)
		}
	}
	return nil
}

// checkSysctlValue refuses control characters: a newline or NUL would end
// the kernel's parse early and write something other than what was asked.
func checkSysctlValue(value string) error {
	if len(value) > maxSysctlValue {
		return fmt.Errorf("value longer than %d bytes", maxSysctlValue)
	}
	for _, r := range value {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return fmt.Errorf("value contains control character %q", r)
		}
	}
	return nil
}

// applySysctls writes the sysctls through /proc/sys. It must run on the
// thread that is inside the pod's new namespaces: the kernel resolves net and
// IPC sysctls against the namespaces of the task that opens the file.
//
// ipcOwner, when not nil, opens IPC sysctls as that host uid: the kernel
// lets only the root of the user namespace owning an IPC namespace write
// its sysctls, not the host's root (ipc_permissions). The caller runs on a
// locked thread, whose effective uid alone changes, and back.
func applySysctls(sysctls map[string]string, ipcOwner *uint32) error {
	for key, value := range sysctls {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
		var err error
		if ns, _ := sysctlNamespace(key); ns == NamespaceIPC && ipcOwner != nil {
			err = writeAs(path, value, *ipcOwner)
		} else {
			err = os.WriteFile(path, []byte(value), 0)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return errdefs.InvalidField("linux.sysctls["+key+"]", "no such sysctl in the pod's namespaces")
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ERANGE):
			return errdefs.InvalidField("linux.sysctls["+key+"]", fmt.Sprintf("the kernel refuses the value %q", value))
		case err != nil:
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
	}
	return nil
}

// writeAs writes value to path with the calling thread's effective uid
// set to uid (the kernel checks it on open and on each write), then
// returns to root. Only this thread's credentials change (a raw
// setresuid(2), not Go's, which changes every thread's); the real and saved
// uids stay 0, so root's capabilities come back with its effective uid.
func writeAs(path, value string, uid uint32) error {
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); errno != 0 {
		return fmt.Errorf("become uid %d: %w", uid, errno)
	}
	err := os.WriteFile(path, []byte(value), 0)
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); errno != 0 {
		// The thread cannot go back to root: enter retires it.
		return errors.Join(err, fmt.Errorf("return to root after writing %s: %w", path, errno))
	}
	return err
}
