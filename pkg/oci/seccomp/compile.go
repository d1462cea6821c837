package seccomp

import (
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// maxInstructions is the kernel's BPF_MAXINSNS.
const maxInstructions = 4096

// maxGroup bounds a run of plain rules checked by one short-jump table.
const maxGroup = 200

// Filter is a compiled seccomp program, ready to install.
type Filter struct {
	prog  []bpf.RawInstruction
	flags []specs.LinuxSeccompFlag
}

// Len returns the number of BPF instructions.
func (f *Filter) Len() int { return len(f.prog) }

// rule is one profile rule resolved for an architecture.
type rule struct {
	nrs  []uint32
	args []specs.LinuxSeccompArg
	ret  uint32
}

// Compile turns a profile into a filter for the architecture crisp runs
// on. warn receives the names of system calls skipped because an
// architecture does not have them.
func Compile(s *specs.LinuxSeccomp, warn func(string)) (*Filter, error) {
	native := nativeArch()
	if native == nil {
		return nil, fmt.Errorf("no system call tables for this architecture")
	}
	return compile(s, native, warn)
}

// compile turns a profile into a filter for a machine whose native
// architecture is native: tests compile for every supported one.
func compile(s *specs.LinuxSeccomp, native *arch, warn func(string)) (*Filter, error) {
	defRet, err := actionValue(s.DefaultAction, nil, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	wanted := map[*arch]bool{native: true}
	for _, name := range s.Architectures {
		if a, ok := archs[name]; ok {
			wanted[a] = true
		}
	}
	rules := map[*arch][]rule{}
	unknown := map[string]bool{}
	for i, sc := range s.Syscalls {
		// defaultErrnoRet is the default action's; a rule without
		// errnoRet returns EPERM, as the runtime spec says.
		ret, err := actionValue(sc.Action, sc.ErrnoRet, nil)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d].action: %w", i, err)
		}
		for j, arg := range sc.Args {
			if arg.Index > 5 {
				return nil, fmt.Errorf("syscalls[%d].args[%d].index: %d is not below 6", i, j, arg.Index)
			}
			if _, ok := compareOps[arg.Op]; !ok {
				return nil, fmt.Errorf("syscalls[%d].args[%d].op: unknown operator %q", i, j, arg.Op)
			}
		}
		for a := range wanted {
			var nrs []uint32
			for _, name := range sc.Names {
				nr, ok := a.syscalls.lookup(name)
				if !ok {
					if a == native {
						unknown[name] = true
					}
					continue
				}
				nrs = append(nrs, nr)
			}
			if len(nrs) == 0 {
				continue
			}
			// Conditions on the same argument are alternatives, as in
			// runc: one rule per condition then.
			for _, args := range splitArgs(sc.Args) {
				rules[a] = append(rules[a], rule{nrs: nrs, args: args, ret: ret})
			}
		}
	}
	if warn != nil {
		// A name the native architecture lacks but another requested one
		// has (i386's chown32, _llseek, ...) is a rule for that
		// architecture, not a mistake.
		names := make([]string, 0, len(unknown))
		for n := range unknown {
			if !knownToAny(wanted, n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			warn(fmt.Sprintf("seccomp: unknown system call %q skipped", n))
		}
	}

	a := newAssembler()
	badArch := a.newLabel()
	a.load(offArch)
	sections := map[uint32]label{}
	for _, arc := range []*arch{archX86_64, archI386, archARM64} {
		if wanted[arc] || (arc == archX86_64 && wanted[archX32]) {
			sections[arc.audit] = a.newLabel()
			a.jumpIf(bpf.JumpEqual, arc.audit, sections[arc.audit])
		}
	}
	a.jump(badArch)
	if l, ok := sections[archX86_64.audit]; ok {
		a.bind(l)
		a.load(offNr)
		x32 := a.newLabel()
		a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, x32)
		if wanted[archX86_64] {
			emitRules(a, rules[archX86_64], archX86_64.args32)
			a.ret(defRet)
		} else {
			a.jump(badArch)
		}
		a.bind(x32)
		if wanted[archX32] {
			emitRules(a, rules[archX32], archX32.args32)
			a.ret(defRet)
		} else {
			a.jump(badArch)
		}
	}
	for _, arc := range []*arch{archI386, archARM64} {
		if l, ok := sections[arc.audit]; ok {
			a.bind(l)
			a.load(offNr)
			emitRules(a, rules[arc], arc.args32)
			a.ret(defRet)
		}
	}
	// Calls of other architectures (and x32 or i386 calls the profile
	// does not list) kill the process, as libseccomp's default does.
	a.bind(badArch)
	a.ret(retKillProcess)
	prog, err := a.assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("filter has %d instructions, more than the kernel's %d", len(prog), maxInstructions)
	}
	return &Filter{prog: prog, flags: s.Flags}, nil
}

// splitArgs returns the conjunctions a rule's conditions stand for.
func splitArgs(args []specs.LinuxSeccompArg) [][]specs.LinuxSeccompArg {
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
	}
	if !repeated {
		return [][]specs.LinuxSeccompArg{args}
	}
	out := make([][]specs.LinuxSeccompArg, 0, len(args))
	for _, a := range args {
		out = append(out, []specs.LinuxSeccompArg{a})
	}
	return out
}

// emitRules emits rules in order; the system call number is in the
// accumulator at the start and after each rule. args32 says the
// architecture's arguments are 32 bits wide.
func emitRules(a *assembler, rules []rule, args32 bool) {
	for i := 0; i < len(rules); {
		if len(rules[i].args) > 0 {
			emitConditional(a, rules[i], args32)
			i++
			continue
		}
		// A run of unconditional rules with the same action becomes a
		// table of short jumps to one return.
		var nrs []uint32
		ret := rules[i].ret
		for ; i < len(rules) && len(rules[i].args) == 0 && rules[i].ret == ret; i++ {
			nrs = append(nrs, rules[i].nrs...)
		}
		for len(nrs) > 0 {
			n := min(len(nrs), maxGroup)
			for j, nr := range nrs[:n] {
				a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: uint8(n - j)})
			}
			a.emit(bpf.Jump{Skip: 1})
			a.ret(ret)
			nrs = nrs[n:]
		}
	}
}

// emitConditional emits a rule with argument conditions.
func emitConditional(a *assembler, r rule, args32 bool) {
	next := a.newLabel()
	match := a.newLabel()
	for _, nr := range r.nrs {
		a.jumpIf(bpf.JumpEqual, nr, match)
	}
	a.jump(next)
	a.bind(match)
	for _, arg := range r.args {
		emitCompare(a, arg, args32, next)
	}
	a.ret(r.ret)
	a.bind(next)
	a.load(offNr)
}

var compareOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

// emitCompare checks one 64-bit argument, as two 32-bit halves (every
// supported architecture is little-endian: the low half comes first), and
// jumps to fail if it does not hold. On an architecture with 32-bit
// arguments only the low halves of the argument and the values count, as
// in libseccomp: the kernel ignores the upper half there, so comparing it
// would let a caller slip past a rule by setting it.
func emitCompare(a *assembler, arg specs.LinuxSeccompArg, args32 bool, fail label) {
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	vHi, vLo := uint32(arg.Value>>32), uint32(arg.Value)
	if args32 {
		emitCompare32(a, arg, lo, fail)
		return
	}
	pass := a.newLabel()
	switch arg.Op {
	case specs.OpEqualTo:
		a.load(hi)
		a.jumpIf(bpf.JumpNotEqual, vHi, fail)
		a.load(lo)
		a.jumpIf(bpf.JumpNotEqual, vLo, fail)
	case specs.OpNotEqual:
		a.load(hi)
		a.jumpIf(bpf.JumpNotEqual, vHi, pass)
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vLo, fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		a.load(hi)
		a.jumpIf(bpf.JumpGreaterThan, vHi, pass)
		a.jumpIf(bpf.JumpNotEqual, vHi, fail)
		a.load(lo)
		if arg.Op == specs.OpGreaterThan {
			a.jumpUnless(bpf.JumpGreaterThan, vLo, fail)
		} else {
			a.jumpUnless(bpf.JumpGreaterOrEqual, vLo, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		a.load(hi)
		a.jumpIf(bpf.JumpLessThan, vHi, pass)
		a.jumpIf(bpf.JumpNotEqual, vHi, fail)
		a.load(lo)
		if arg.Op == specs.OpLessThan {
			a.jumpIf(bpf.JumpGreaterOrEqual, vLo, fail)
		} else {
			a.jumpIf(bpf.JumpGreaterThan, vLo, fail)
		}
	case specs.OpMaskedEqual:
		mHi, mLo := uint32(arg.Value>>32), uint32(arg.Value)
		wHi, wLo := uint32(arg.ValueTwo>>32), uint32(arg.ValueTwo)
		a.load(hi)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mHi})
		a.jumpIf(bpf.JumpNotEqual, wHi, fail)
		a.load(lo)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mLo})
		a.jumpIf(bpf.JumpNotEqual, wLo, fail)
	}
	a.bind(pass)
}

// emitCompare32 checks the low half of an argument against the low halves
// of the rule's values.
func emitCompare32(a *assembler, arg specs.LinuxSeccompArg, off uint32, fail label) {
	v := uint32(arg.Value)
	a.load(off)
	switch arg.Op {
	case specs.OpEqualTo:
		a.jumpIf(bpf.JumpNotEqual, v, fail)
	case specs.OpNotEqual:
		a.jumpIf(bpf.JumpEqual, v, fail)
	case specs.OpGreaterThan:
		a.jumpUnless(bpf.JumpGreaterThan, v, fail)
	case specs.OpGreaterEqual:
		a.jumpUnless(bpf.JumpGreaterOrEqual, v, fail)
	case specs.OpLessThan:
		a.jumpIf(bpf.JumpGreaterOrEqual, v, fail)
	case specs.OpLessEqual:
		a.jumpIf(bpf.JumpGreaterThan, v, fail)
	case specs.OpMaskedEqual:
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: v})
		a.jumpIf(bpf.JumpNotEqual, uint32(arg.ValueTwo), fail)
	}
}

// knownToAny reports whether any of the architectures has the system call.
func knownToAny(archs map[*arch]bool, name string) bool {
	for a := range archs {
		if _, ok := a.syscalls.lookup(name); ok {
			return true
		}
	}
	return false
}
