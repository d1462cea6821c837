package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run evaluates the filter on one system call.
func run(t *testing.T, f *Filter, audit, nr uint32, args ...uint64) uint32 {
	t.Helper()
	ins := make([]bpf.Instruction, len(f.prog))
	for i, r := range f.prog {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("filter rejected by the VM: %v", err)
	}
	c := call{audit: audit, nr: nr}
	copy(c.args[:], args)
	return eval(t, vm, c)
}

// call is one system call as the kernel hands it to a filter.
type call struct {
	audit, nr uint32
	args      [6]uint64
}

func (c call) String() string {
	return fmt.Sprintf("arch %#x nr %d args %#x", c.audit, c.nr, c.args)
}

// eval runs a program on one call in x/net/bpf's VM, which loads words
// big-endian: each 32-bit field is stored so.
func eval(t *testing.T, vm *bpf.VM, c call) uint32 {
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], c.nr)
	binary.BigEndian.PutUint32(data[4:], c.audit)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return uint32(ret)
}

func errnoRet(e uint) *uint { return &e }

// nr looks a system call up, failing the test when it is unknown.
func nr(t *testing.T, table syscallTable, name string) uint32 {
	t.Helper()
	n, ok := table.lookup(name)
	if !ok {
		t.Fatalf("no system call %s", name)
	}
	return n
}

// A name only another requested architecture has (i386's chown32) applies
// there and is no mistake; without that architecture it is one.
func TestCompileWarnsOnlyForNamesNoArchitectureHas(t *testing.T) {
	for _, tc := range []struct {
		archs []specs.Arch
		want  []string
	}{
		{[]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}, []string{`seccomp: unknown system call "no_such_call" skipped`}},
		{[]specs.Arch{specs.ArchX86_64}, []string{`seccomp: unknown system call "chown32" skipped`, `seccomp: unknown system call "no_such_call" skipped`}},
	} {
		prof := &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: tc.archs,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "chown32", "uretprobe", "no_such_call"}, Action: specs.ActAllow}},
		}
		var warnings []string
		if _, err := Compile(prof, func(w string) { warnings = append(warnings, w) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(warnings, tc.want) {
			t.Errorf("architectures %v: warnings %q, want %q", tc.archs, warnings, tc.want)
		}
	}
}

func TestCompileActions(t *testing.T) {
	prof := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(uint(unix.ENOSYS)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "no_such_call"}, Action: specs.ActAllow},
			{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: errnoRet(uint(unix.EXDEV))},
			{Names: []string{"uname"}, Action: specs.ActKillProcess},
			{Names: []string{"getpid"}, Action: specs.ActKill},
			{Names: []string{"getppid"}, Action: specs.ActTrap},
			{Names: []string{"getuid"}, Action: specs.ActLog},
		},
	}
	var warnings []string
	f, err := Compile(prof, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings %q, want one for no_such_call", warnings)
	}
	x64, i386 := uint32(unix.AUDIT_ARCH_X86_64), uint32(unix.AUDIT_ARCH_I386)
	for _, tc := range []struct {
		name      string
		audit, nr uint32
		want      uint32
	}{
		{"x86_64 read", x64, nr(t, syscallsX86_64, "read"), retAllow},
		{"i386 read", i386, nr(t, syscallsI386, "read"), retAllow},
		{"x32 read", x64, nr(t, syscallsX32, "read"), retAllow},
		{"errno", x64, nr(t, syscallsX86_64, "mkdir"), retErrno | uint32(unix.EXDEV)},
		{"i386 errno", i386, nr(t, syscallsI386, "mkdir"), retErrno | uint32(unix.EXDEV)},
		{"kill process", x64, nr(t, syscallsX86_64, "uname"), retKillProcess},
		{"kill thread", x64, nr(t, syscallsX86_64, "getpid"), retKillThread},
		{"trap", x64, nr(t, syscallsX86_64, "getppid"), retTrap},
		{"log", x64, nr(t, syscallsX86_64, "getuid"), retLog},
		{"default errno", x64, nr(t, syscallsX86_64, "chdir"), retErrno | uint32(unix.ENOSYS)},
		{"i386 call 0 is restart_syscall, not read", i386, nr(t, syscallsX86_64, "read"), retErrno | uint32(unix.ENOSYS)},
		{"unknown architecture", unix.AUDIT_ARCH_AARCH64, 0, retKillProcess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, f, tc.audit, tc.nr); got != tc.want {
				t.Errorf("got %#x, want %#x", got, tc.want)
			}
		})
	}
	// i386 read is 3, which is x86_64 close: the default applies.
	if got := run(t, f, i386, nr(t, syscallsI386, "close")); got != retErrno|uint32(unix.ENOSYS) {
		t.Errorf("i386 close: %#x", got)
	}
}

func TestCompileX32NotListed(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr(t, syscallsX32, "read")); got != retKillProcess {
		t.Errorf("x32 call without x32 in the profile: %#x, want kill", got)
	}
	if got := run(t, f, unix.AUDIT_ARCH_I386, 3); got != retKillProcess {
		t.Errorf("i386 call without i386 in the profile: %#x, want kill", got)
	}
	if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr(t, syscallsX86_64, "mkdir")); got != retErrno|uint32(unix.EPERM) {
		t.Errorf("errno without errnoRet: %#x, want EPERM", got)
	}
	// defaultErrnoRet belongs to the default action only.
	f, err = Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: errnoRet(uint(unix.ENOSYS)),
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr(t, syscallsX86_64, "mkdir")); got != retErrno|uint32(unix.EPERM) {
		t.Errorf("rule without errnoRet under defaultErrnoRet: %#x, want EPERM", got)
	}
}

func TestCompileArgumentComparisons(t *testing.T) {
	const big = uint64(0x1_0000_0005) // high word set
	nr := nr(t, syscallsX86_64, "personality")
	for _, tc := range []struct {
		op      specs.LinuxSeccompOperator
		value   uint64
		value2  uint64
		match   []uint64
		nomatch []uint64
	}{
		{specs.OpEqualTo, 5, 0, []uint64{5}, []uint64{4, 6, big}},
		{specs.OpEqualTo, big, 0, []uint64{big}, []uint64{5}},
		{specs.OpNotEqual, 5, 0, []uint64{4, big, 0}, []uint64{5}},
		{specs.OpGreaterThan, 5, 0, []uint64{6, big}, []uint64{5, 0}},
		{specs.OpGreaterEqual, 5, 0, []uint64{5, 6, big}, []uint64{4}},
		{specs.OpLessThan, 5, 0, []uint64{4, 0}, []uint64{5, big}},
		{specs.OpLessEqual, 5, 0, []uint64{5, 0}, []uint64{6, big}},
		{specs.OpLessThan, big, 0, []uint64{5, 0x1_0000_0004}, []uint64{big, 0x2_0000_0000}},
		{specs.OpGreaterThan, big, 0, []uint64{0x1_0000_0006, 0x2_0000_0000}, []uint64{big, 6}},
		{specs.OpMaskedEqual, 0xff, 0x05, []uint64{0x105, 5, big}, []uint64{6, 0x104}},
		{specs.OpMaskedEqual, 0xf_0000_0000, 0x1_0000_0000, []uint64{big, 0x1_0000_0000}, []uint64{5, 0x2_0000_0000}},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			f, err := Compile(&specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errnoRet(1),
					Args: []specs.LinuxSeccompArg{{Index: 2, Op: tc.op, Value: tc.value, ValueTwo: tc.value2}},
				}},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.match {
				if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr, 0, 0, v); got != retErrno|1 {
					t.Errorf("%s %#x: arg %#x should match (got %#x)", tc.op, tc.value, v, got)
				}
			}
			for _, v := range tc.nomatch {
				if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr, 0, 0, v); got != retAllow {
					t.Errorf("%s %#x: arg %#x should not match (got %#x)", tc.op, tc.value, v, got)
				}
			}
		})
	}
}

func TestCompileRuleOrderAndAlternatives(t *testing.T) {
	kill := nr(t, syscallsX86_64, "kill")
	f, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			// Two conditions on one argument are alternatives.
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errnoRet(7), Args: []specs.LinuxSeccompArg{
				{Index: 1, Op: specs.OpEqualTo, Value: 10}, {Index: 1, Op: specs.OpEqualTo, Value: 12},
			}},
			// Conditions on different arguments must all hold.
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: errnoRet(8), Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 1, Op: specs.OpEqualTo, Value: 15},
			}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pid, sig uint64
		want     uint32
	}{
		{5, 10, retErrno | 7}, {5, 12, retErrno | 7}, {5, 11, retAllow},
		{1, 15, retErrno | 8}, {2, 15, retAllow}, {1, 14, retAllow},
	} {
		if got := run(t, f, unix.AUDIT_ARCH_X86_64, kill, tc.pid, tc.sig); got != tc.want {
			t.Errorf("kill(%d, %d): %#x, want %#x", tc.pid, tc.sig, got, tc.want)
		}
	}
}

func TestCompileLargeProfileFits(t *testing.T) {
	var names []string
	for _, sc := range syscallsX86_64 {
		names = append(names, sc.name)
	}
	f, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() > maxInstructions {
		t.Fatalf("%d instructions", f.Len())
	}
	for _, n := range []string{"read", "mseal", "openat2"} {
		if got := run(t, f, unix.AUDIT_ARCH_X86_64, nr(t, syscallsX86_64, n)); got != retAllow {
			t.Errorf("%s: %#x", n, got)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for name, prof := range map[string]*specs.LinuxSeccomp{
		"bad default":  {DefaultAction: "SCMP_ACT_FLY"},
		"notify":       {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}},
		"bad operator": {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_ABOUT"}}}}},
		"bad index":    {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
	} {
		if _, err := Compile(prof, nil); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}
