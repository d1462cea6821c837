package oci

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSeccomp(t *testing.T) {
	rt := newTestRuntime(t)
	exdev := uint(unix.EXDEV)
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &exdev},
			{Names: []string{"sync"}, Action: specs.ActKillProcess},
			{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: uint64(unix.SIGUSR1)}}},
			{Names: []string{"not_a_syscall"}, Action: specs.ActErrno},
		},
	}
	script := `
		mkdir /dev/shm/x 2>&1; echo mkdir=$?
		sync; echo sync=$?
		kill -USR1 $$ 2>/dev/null; echo usr1=$?
		kill -0 $$; echo zero=$?`
	for _, nnp := range []bool{false, true} {
		name := "without no_new_privs"
		if nnp {
			name = "with no_new_privs"
		}
		t.Run(name, func(t *testing.T) {
			spec := testSpec(t, "sh", "-c", script)
			spec.Process.NoNewPrivileges = nnp
			spec.Linux.Seccomp = profile
			out, st := runToExit(t, rt, spec)
			for _, want := range []string{
				"Invalid cross-device link", "mkdir=1",
				"sync=159", // 128 + SIGSYS
				"usr1=1", "zero=0",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if st.Code != 0 {
				t.Errorf("exit %+v", st)
			}
		})
	}
}

// TestSeccompLastBeforeExec installs, with no_new_privs, a profile that
// kills on the system calls the init makes to prepare the exec (closing
// descriptors, resetting signals): the filter must come after them, right
// before execve, so the process still runs.
func TestSeccompLastBeforeExec(t *testing.T) {
	rt := newTestRuntime(t)
	spec := testSpec(t, "true")
	spec.Process.NoNewPrivileges = true
	spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"close_range", "rt_sigaction", "rt_sigprocmask", "fcntl"}, Action: specs.ActKillProcess},
		},
	}
	if out, st := runToExit(t, rt, spec); st.Code != 0 {
		t.Errorf("exit %+v (output %q), want 0", st, out)
	}
}
