package seccomp

import (
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// FuzzCompile feeds the compiler profiles in their JSON form, as a
// Localhost profile file reaches it. Whatever it accepts must be a program
// the kernel would load, that kills calls of other architectures and gives
// a system call no rule names the default action.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_KILL_PROCESS"}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_LOG","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_TRAP","architectures":["SCMP_ARCH_AARCH64"],"syscalls":[{"names":["no_such_call"],"action":"SCMP_ACT_TRACE","args":[{"index":9,"value":1,"op":"SCMP_CMP_GT"}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.LinuxSeccomp
		if json.Unmarshal(data, &s) != nil || len(s.Syscalls) > 64 {
			return
		}
		filter, err := Compile(&s, nil)
		if err != nil {
			return
		}
		if filter.Len() == 0 || filter.Len() > maxInstructions {
			t.Fatalf("program of %d instructions", filter.Len())
		}
		prog := make([]bpf.Instruction, filter.Len())
		for i, r := range filter.prog {
			prog[i] = r.Disassemble()
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("the VM refuses the program: %v", err)
		}
		foreign := call{audit: unix.AUDIT_ARCH_S390X, nr: 0}
		if got := eval(t, vm, foreign); got != retKillProcess {
			t.Errorf("a foreign architecture's call returns %#x", got)
		}
		named := map[uint32]bool{}
		native := nativeArch()
		for _, sc := range s.Syscalls {
			for _, name := range sc.Names {
				if nr, ok := native.syscalls.lookup(name); ok {
					named[nr] = true
				}
			}
		}
		def, err := actionValue(s.DefaultAction, nil, s.DefaultErrnoRet)
		if err != nil {
			t.Fatalf("compiled with a bad default action: %v", err)
		}
		for _, sc := range native.syscalls {
			if !named[sc.nr] {
				if got := eval(t, vm, call{audit: native.audit, nr: sc.nr}); got != def {
					t.Fatalf("%s, named by no rule, returns %#x, want the default %#x", sc.name, got, def)
				}
				break
			}
		}
	})
}
