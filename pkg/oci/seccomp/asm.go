package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// label is a position in a program under construction.
type label int

// assembler builds a classic BPF program with forward jumps to labels.
// Conditional jumps only skip one instruction; an unconditional jump (with
// a 32-bit offset) follows them, so programs of any length assemble.
type assembler struct {
	ins    []bpf.Instruction
	fixups map[int]label // index of a Jump -> its target
	labels []int         // label -> instruction index, -1 until bound
}

func newAssembler() *assembler { return &assembler{fixups: map[int]label{}} }

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *assembler) bind(l label) { a.labels[l] = len(a.ins) }

func (a *assembler) emit(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

func (a *assembler) jump(l label) {
	a.fixups[len(a.ins)] = l
	a.ins = append(a.ins, bpf.Jump{})
}

// jumpIf jumps to l when the accumulator passes the test against k.
func (a *assembler) jumpIf(cond bpf.JumpTest, k uint32, l label) {
	a.emit(bpf.JumpIf{Cond: cond, Val: k, SkipTrue: 0, SkipFalse: 1})
	a.jump(l)
}

// jumpUnless jumps to l when the accumulator fails the test against k.
func (a *assembler) jumpUnless(cond bpf.JumpTest, k uint32, l label) {
	a.emit(bpf.JumpIf{Cond: cond, Val: k, SkipTrue: 1, SkipFalse: 0})
	a.jump(l)
}

func (a *assembler) ret(v uint32) { a.emit(bpf.RetConstant{Val: v}) }

func (a *assembler) load(off uint32) { a.emit(bpf.LoadAbsolute{Off: off, Size: 4}) }

// assemble resolves the jumps and returns the raw program.
func (a *assembler) assemble() ([]bpf.RawInstruction, error) {
	for i, l := range a.fixups {
		target := a.labels[l]
		if target < 0 {
			return nil, fmt.Errorf("unbound label %d", l)
		}
		if target <= i {
			return nil, fmt.Errorf("backward jump at %d", i)
		}
		a.ins[i] = bpf.Jump{Skip: uint32(target - i - 1)}
	}
	return bpf.Assemble(a.ins)
}
