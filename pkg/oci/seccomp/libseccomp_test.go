//go:build cgo

package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The tests in this file hold crisp's compiler to libseccomp, the library
// runc, crun and youki build their filters with: for the same profile, both
// programs must return the same action for every system call number of
// every architecture the profile names, with the argument values its
// conditions care about. They need libseccomp (Debian: libseccomp-dev) at
// build time.

var libArches = map[*arch]libseccomp.ScmpArch{
	archX86_64: libseccomp.ArchAMD64, archX32: libseccomp.ArchX32,
	archI386: libseccomp.ArchX86, archARM64: libseccomp.ArchARM64,
}

var libOps = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual: libseccomp.CompareNotEqual, specs.OpLessThan: libseccomp.CompareLess,
	specs.OpLessEqual: libseccomp.CompareLessOrEqual, specs.OpEqualTo: libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual, specs.OpGreaterThan: libseccomp.CompareGreater,
	specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
}

// libAction is actionValue for libseccomp.
func libAction(t *testing.T, a specs.LinuxSeccompAction, errnoRet, defaultErrno *uint) libseccomp.ScmpAction {
	t.Helper()
	errno := int16(unix.EPERM)
	if errnoRet != nil {
		errno = int16(*errnoRet)
	} else if defaultErrno != nil {
		errno = int16(*defaultErrno)
	}
	switch a {
	case specs.ActAllow:
		return libseccomp.ActAllow
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(errno)
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess
	case specs.ActTrap:
		return libseccomp.ActTrap
	case specs.ActLog:
		return libseccomp.ActLog
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(errno)
	}
	t.Fatalf("no libseccomp action for %q", a)
	return 0
}

// libFilter builds the profile with libseccomp the way runc does, for a
// machine whose native architecture is native, and returns its program.
// Rules whose action is the default one are left out, as runc does
// (libseccomp refuses them).
func libFilter(t *testing.T, s *specs.LinuxSeccomp, native *arch) []bpf.Instruction {
	t.Helper()
	def := libAction(t, s.DefaultAction, nil, s.DefaultErrnoRet)
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	for _, set := range []func() error{
		func() error { return f.SetNoNewPrivsBit(false) },
		func() error { return f.SetBadArchAction(libseccomp.ActKillProcess) },
	} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	wanted := map[*arch]bool{native: true}
	for _, name := range s.Architectures {
		if a, ok := archs[name]; ok {
			wanted[a] = true
		}
	}
	host, err := libseccomp.GetNativeArch()
	if err != nil {
		t.Fatal(err)
	}
	for a := range wanted {
		if err := f.AddArch(libArches[a]); err != nil {
			t.Fatal(err)
		}
	}
	hostWanted := false
	for a := range wanted {
		hostWanted = hostWanted || libArches[a] == host
	}
	if !hostWanted {
		if err := f.RemoveArch(host); err != nil {
			t.Fatal(err)
		}
	}
	for i, sc := range s.Syscalls {
		act := libAction(t, sc.Action, sc.ErrnoRet, nil)
		if act == def {
			continue
		}
		for _, name := range sc.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // unknown to libseccomp: skipped, as by runc
			}
			for _, args := range splitArgs(sc.Args) {
				var conds []libseccomp.ScmpCondition
				for _, a := range args {
					vals := []uint64{a.Value}
					if a.Op == specs.OpMaskedEqual {
						vals = append(vals, a.ValueTwo)
					}
					c, err := libseccomp.MakeCondition(a.Index, libOps[a.Op], vals...)
					if err != nil {
						t.Fatalf("syscalls[%d]: %v", i, err)
					}
					conds = append(conds, c)
				}
				if err := f.AddRuleConditional(call, act, conds); err != nil {
					t.Fatalf("syscalls[%d] %s: %v", i, name, err)
				}
			}
		}
	}
	tmp, err := os.CreateTemp(t.TempDir(), "bpf")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := f.ExportBPF(tmp); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]bpf.Instruction, 0, len(raw)/8)
	for i := 0; i+8 <= len(raw); i += 8 {
		prog = append(prog, bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(raw[i:]), Jt: raw[i+2], Jf: raw[i+3],
			K: binary.NativeEndian.Uint32(raw[i+4:]),
		}.Disassemble())
	}
	return prog
}

func crispFilter(t *testing.T, s *specs.LinuxSeccomp, native *arch) []bpf.Instruction {
	t.Helper()
	f, err := compile(s, native, nil)
	if err != nil {
		t.Fatal(err)
	}
	prog := make([]bpf.Instruction, len(f.prog))
	for i, r := range f.prog {
		prog[i] = r.Disassemble()
	}
	return prog
}

// probeValues are the argument values around every condition of the
// profile, and the extremes.
func probeValues(s *specs.LinuxSeccomp) []uint64 {
	set := map[uint64]bool{0: true, 1: true, ^uint64(0): true, 1 << 32: true, 0xffffffff: true}
	for _, sc := range s.Syscalls {
		for _, a := range sc.Args {
			for _, v := range []uint64{a.Value, a.ValueTwo} {
				set[v], set[v-1], set[v+1] = true, true, true
				set[v|1<<32] = true
			}
			if a.Op == specs.OpMaskedEqual {
				set[a.ValueTwo|^a.Value] = true
				set[a.ValueTwo|a.Value] = true
			}
		}
	}
	out := make([]uint64, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// calls lists the calls to compare for one architecture: every number in
// its table and a few past it, with every combination of probe values for
// the arguments the profile's conditions name for that number. A 32-bit
// architecture's arguments have no upper half.
func calls(s *specs.LinuxSeccomp, a *arch) []call {
	condArgs := map[uint32]map[uint]bool{}
	for _, sc := range s.Syscalls {
		for _, name := range sc.Names {
			nr, ok := a.syscalls.lookup(name)
			if !ok || len(sc.Args) == 0 {
				continue
			}
			if condArgs[nr] == nil {
				condArgs[nr] = map[uint]bool{}
			}
			for _, arg := range sc.Args {
				condArgs[nr][arg.Index] = true
			}
		}
	}
	values := probeValues(s)
	if a == archI386 {
		narrow := map[uint64]bool{}
		for _, v := range values {
			narrow[uint64(uint32(v))] = true
		}
		values = values[:0]
		for v := range narrow {
			values = append(values, v)
		}
		slices.Sort(values)
	}
	var maxNr uint32
	for _, sc := range a.syscalls {
		maxNr = max(maxNr, sc.nr)
	}
	base := uint32(0)
	if a.x32 {
		base = x32Bit
	}
	var out []call
	for nr := base; nr <= maxNr+8; nr++ {
		idx := make([]uint, 0, 6)
		for i := range condArgs[nr] {
			idx = append(idx, i)
		}
		sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
		c := call{audit: a.audit, nr: nr}
		var fill func(int)
		fill = func(k int) {
			if k == len(idx) {
				out = append(out, c)
				return
			}
			for _, v := range values {
				c.args[idx[k]] = v
				fill(k + 1)
			}
			c.args[idx[k]] = 0
		}
		fill(0)
	}
	return out
}

// compareWithLibseccomp checks that both programs agree on every call of
// every architecture the filter holds, and on an architecture it does not.
func compareWithLibseccomp(t *testing.T, s *specs.LinuxSeccomp, native *arch) {
	t.Helper()
	mine, err := bpf.NewVM(crispFilter(t, s, native))
	if err != nil {
		t.Fatalf("crisp's filter: %v", err)
	}
	theirs, err := bpf.NewVM(libFilter(t, s, native))
	if err != nil {
		t.Fatalf("libseccomp's filter: %v", err)
	}
	wanted := []*arch{native}
	for _, name := range s.Architectures {
		if a, ok := archs[name]; ok && a != native {
			wanted = append(wanted, a)
		}
	}
	// Numbers crisp knows and this libseccomp does not (newer system
	// calls) are rules only crisp can have.
	unknownToLib := map[*arch]map[uint32]bool{}
	for _, a := range wanted {
		unknownToLib[a] = map[uint32]bool{}
		for _, sc := range a.syscalls {
			if n, err := libseccomp.GetSyscallFromNameByArch(sc.name, libArches[a]); err != nil || uint32(n) != sc.nr {
				unknownToLib[a][sc.nr] = true
			}
		}
	}
	compared, differ := 0, 0
	for _, a := range wanted {
		for _, c := range calls(s, a) {
			if unknownToLib[a][c.nr] {
				continue
			}
			compared++
			if got, want := eval(t, mine, c), eval(t, theirs, c); got != want {
				if differ++; differ <= 10 {
					t.Errorf("%s: crisp returns %#x, libseccomp %#x", c, got, want)
				}
			}
		}
	}
	foreign := call{audit: unix.AUDIT_ARCH_PPC64LE, nr: 1}
	if got, want := eval(t, mine, foreign), eval(t, theirs, foreign); got != want {
		t.Errorf("%s: crisp returns %#x, libseccomp %#x", foreign, got, want)
	}
	if differ > 0 {
		t.Errorf("%d of %d calls differ", differ, compared)
	}
	if compared < 300 {
		t.Fatalf("only %d calls compared", compared)
	}
	t.Logf("%d calls agree", compared)
}

// mobyProfile is moby's default profile for a container with caps,
// listing the architectures given.
func mobyProfile(t *testing.T, caps []string, arches []specs.Arch) *specs.LinuxSeccomp {
	t.Helper()
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := mobyseccomp.GetDefaultProfile(s)
	if err != nil {
		t.Fatal(err)
	}
	p.Architectures = arches
	return p
}

var mobyDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func TestLibseccompAgreesOnMobyDefault(t *testing.T) {
	x86 := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	arm := []specs.Arch{specs.ArchAARCH64}
	all := append(slices.Clone(mobyDefaultCaps), "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_SYS_MODULE",
		"CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG",
		"CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_RESOURCE")
	for _, tc := range []struct {
		name   string
		native *arch
		arches []specs.Arch
		caps   []string
	}{
		{"amd64 default caps", archX86_64, x86, mobyDefaultCaps},
		{"amd64 all caps", archX86_64, x86, all},
		{"amd64 only", archX86_64, []specs.Arch{specs.ArchX86_64}, mobyDefaultCaps},
		{"arm64 default caps", archARM64, arm, mobyDefaultCaps},
		{"arm64 all caps", archARM64, arm, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compareWithLibseccomp(t, mobyProfile(t, tc.caps, tc.arches), tc.native)
		})
	}
}

// Profiles that use every action, operator and errno form, as the OCI
// runtime-tools seccomp cases do.
func TestLibseccompAgreesOnOperatorsAndActions(t *testing.T) {
	eperm, enosys, e99 := uint(unix.EPERM), uint(unix.ENOSYS), uint(99)
	profiles := map[string]*specs.LinuxSeccomp{
		"allow list with errno default": {
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &enosys,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"read", "write", "exit_group", "futex"}, Action: specs.ActAllow},
				{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: &e99},
				{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
			},
		},
		"deny list with allow default": {
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"ptrace"}, Action: specs.ActKillProcess},
				{Names: []string{"kexec_load"}, Action: specs.ActKillThread},
				{Names: []string{"acct"}, Action: specs.ActTrap},
				{Names: []string{"swapon", "swapoff"}, Action: specs.ActLog},
				{Names: []string{"reboot"}, Action: specs.ActTrace, ErrnoRet: &eperm},
				{Names: []string{"mount"}, Action: specs.ActErrno, ErrnoRet: &eperm},
			},
		},
		"every operator": {
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
				{Names: []string{"setns"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0x40000000, Op: specs.OpNotEqual}}},
				{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpLessThan}}},
				{Names: []string{"tkill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpLessEqual}}},
				{Names: []string{"dup3"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 1 << 33, Op: specs.OpGreaterThan}}},
				{Names: []string{"pipe2"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0x80000, Op: specs.OpGreaterEqual}}},
				{Names: []string{"unshare"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x10000000, ValueTwo: 0x10000000, Op: specs.OpMaskedEqual}}},
				{Names: []string{"socket"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 16, Op: specs.OpEqualTo}, {Index: 2, Value: 9, Op: specs.OpEqualTo}}},
			},
		},
		"alternatives on one argument": {
			DefaultAction: specs.ActErrno,
			Syscalls: []specs.LinuxSyscall{
				{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
					{Index: 0, Value: 0, Op: specs.OpEqualTo}, {Index: 0, Value: 8, Op: specs.OpEqualTo},
					{Index: 0, Value: 0x20000, Op: specs.OpEqualTo}, {Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
				{Names: []string{"read"}, Action: specs.ActAllow},
			},
		},
	}
	for name, p := range profiles {
		for _, tc := range []struct {
			native *arch
			arches []specs.Arch
		}{
			{archX86_64, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}},
			{archARM64, []specs.Arch{specs.ArchAARCH64}},
		} {
			p := *p
			p.Architectures = tc.arches
			t.Run(fmt.Sprintf("%s/%s", name, tc.native.name), func(t *testing.T) {
				compareWithLibseccomp(t, &p, tc.native)
			})
		}
	}
}

// crisp's arm64 table is generated from the kernel's generic table; it
// must number every system call as libseccomp does.
func TestARM64TableMatchesLibseccomp(t *testing.T) {
	checked := 0
	for _, sc := range syscallsARM64 {
		n, err := libseccomp.GetSyscallFromNameByArch(sc.name, libseccomp.ArchARM64)
		if err != nil || n < 0 {
			continue // newer than this libseccomp, or not on arm64 for it
		}
		checked++
		if uint32(n) != sc.nr {
			t.Errorf("%s: crisp %d, libseccomp %d", sc.name, sc.nr, n)
		}
	}
	// And every arm64 system call libseccomp knows by a name crisp's
	// other tables have is in crisp's arm64 table.
	for _, table := range []syscallTable{syscallsX86_64, syscallsI386} {
		for _, sc := range table {
			n, err := libseccomp.GetSyscallFromNameByArch(sc.name, libseccomp.ArchARM64)
			if err != nil || n < 0 {
				continue
			}
			if _, ok := syscallsARM64.lookup(sc.name); !ok {
				t.Errorf("%s: arm64 %d in libseccomp, missing in crisp's table", sc.name, n)
			}
		}
	}
	if checked < 250 {
		t.Fatalf("only %d arm64 system calls checked", checked)
	}
}
