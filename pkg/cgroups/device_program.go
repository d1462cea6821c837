package cgroups

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code uint8
	// regs is the destination register in the low four bits, the source
	// in the high four.
	regs uint8
	off  int16
	imm  int32
}

// eBPF registers the device program uses. The kernel passes the program a
// struct bpf_cgroup_dev_ctx in r1 and takes its verdict from r0.
const (
	regResult = 0 // r0: the verdict, 1 allow, 0 deny
	regCtx    = 1 // r1: the context, then a scratch register
	regType   = 2 // r2: BPF_DEVCG_DEV_BLOCK or BPF_DEVCG_DEV_CHAR
	regAccess = 3 // r3: BPF_DEVCG_ACC_* bits asked for
	regMajor  = 4 // r4
	regMinor  = 5 // r5
)

// Offsets in struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32
// minor; }, where access_type is the access bits above the node type's
// sixteen.
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

func loadCtxWord(dst uint8, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W, regs: dst | regCtx<<4, off: off}
}

func movReg(dst, src uint8) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X, regs: dst | src<<4}
}

func movImm(dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K, regs: dst, imm: imm}
}

func aluImm(op uint8, dst uint8, imm int32) bpfInsn {
	return bpfInsn{code: unix.BPF_ALU64 | op | unix.BPF_K, regs: dst, imm: imm}
}

// jumpImm32 compares the low 32 bits of dst with imm (a u32 as the kernel
// gives majors and minors) and, when op holds, skips off instructions.
func jumpImm32(op uint8, dst uint8, imm uint32, off int16) bpfInsn {
	return bpfInsn{code: unix.BPF_JMP32 | op | unix.BPF_K, regs: dst, off: off, imm: int32(imm)}
}

func exitInsn() bpfInsn { return bpfInsn{code: unix.BPF_JMP | unix.BPF_EXIT} }

// deviceProgram compiles list into a BPF_PROG_TYPE_CGROUP_DEVICE program:
// one block per exception, which returns the exception's verdict when the
// device and access match and otherwise falls through to the next, and
// last the default's verdict.
func deviceProgram(list *deviceList) []bpfInsn {
	prog := []bpfInsn{
		loadCtxWord(regType, ctxAccessType),
		movReg(regAccess, regType),
		aluImm(unix.BPF_RSH, regAccess, 16),
		aluImm(unix.BPF_AND, regType, 0xffff),
		loadCtxWord(regMajor, ctxMajor),
		loadCtxWord(regMinor, ctxMinor),
	}
	verdict := func(allow bool) []bpfInsn {
		v := int32(0)
		if allow {
			v = 1
		}
		return []bpfInsn{movImm(regResult, v), exitInsn()}
	}
	for _, key := range list.sortedExceptions() {
		granted := list.exceptions[key]
		// Each test jumps past the rest of the block; offsets are filled
		// in once its length is known.
		var block []bpfInsn
		var skips []int
		test := func(insns ...bpfInsn) {
			block = append(block, insns...)
			skips = append(skips, len(block)-1)
		}
		devType := uint32(unix.BPF_DEVCG_DEV_CHAR)
		if key.typ == 'b' {
			devType = unix.BPF_DEVCG_DEV_BLOCK
		}
		test(jumpImm32(unix.BPF_JNE, regType, devType, 0))
		if key.major != anyDevice {
			test(jumpImm32(unix.BPF_JNE, regMajor, uint32(key.major), 0))
		}
		if key.minor != anyDevice {
			test(jumpImm32(unix.BPF_JNE, regMinor, uint32(key.minor), 0))
		}
		// r1 (the context is no longer needed) holds the accesses
		// tested.
		if list.defaultAllow {
			// A deny exception matches if it names any access asked
			// for.
			test(movReg(regCtx, regAccess), aluImm(unix.BPF_AND, regCtx, int32(granted)),
				jumpImm32(unix.BPF_JEQ, regCtx, 0, 0))
		} else {
			// An allow exception matches if it grants every access
			// asked for; a bit the kernel may ask about one day is
			// not granted.
			test(movReg(regCtx, regAccess), aluImm(unix.BPF_AND, regCtx, int32(^granted&0xffff)),
				jumpImm32(unix.BPF_JNE, regCtx, 0, 0))
		}
		block = append(block, verdict(!list.defaultAllow)...)
		for _, i := range skips {
			block[i].off = int16(len(block) - i - 1)
		}
		prog = append(prog, block...)
	}
	return append(prog, verdict(list.defaultAllow)...)
}

// deviceAccessAll is every access a device program is asked about today.
const deviceAccessAll = unix.BPF_DEVCG_ACC_MKNOD | unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE

// bpfInsnSize is the size of one encoded instruction (struct bpf_insn).
const bpfInsnSize = 8

// encodeProgram returns the program as the kernel reads it.
func encodeProgram(prog []bpfInsn) []byte {
	out := make([]byte, 0, bpfInsnSize*len(prog))
	for _, in := range prog {
		out = append(out, in.code, in.regs)
		out = binary.NativeEndian.AppendUint16(out, uint16(in.off))
		out = binary.NativeEndian.AppendUint32(out, uint32(in.imm))
	}
	return out
}
