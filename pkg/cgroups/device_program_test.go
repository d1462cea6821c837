package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runDeviceProgram interprets prog, which may use only the instructions
// deviceProgram emits, on the context the kernel would pass for a.
func runDeviceProgram(t testing.TB, prog []bpfInsn, a deviceAccess) bool {
	t.Helper()
	devType := uint64(unix.BPF_DEVCG_DEV_CHAR)
	if a.typ == 'b' {
		devType = unix.BPF_DEVCG_DEV_BLOCK
	}
	ctx := map[int16]uint64{
		ctxAccessType: uint64(a.access)<<16 | devType,
		ctxMajor:      uint64(uint32(a.major)),
		ctxMinor:      uint64(uint32(a.minor)),
	}
	var reg [11]uint64
	// r1 points to the context until the program writes it.
	ctxInR1 := true
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		imm := uint64(int64(in.imm))
		switch in.code {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != regCtx || !ctxInR1 {
				t.Fatalf("pc %d: load from r%d, which holds no context", pc, src)
			}
			v, ok := ctx[in.off]
			if !ok {
				t.Fatalf("pc %d: load at context offset %d", pc, in.off)
			}
			reg[dst] = v
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X:
			reg[dst] = reg[src]
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			reg[dst] = imm
		case unix.BPF_ALU64 | unix.BPF_RSH | unix.BPF_K:
			reg[dst] >>= imm
		case unix.BPF_ALU64 | unix.BPF_AND | unix.BPF_K:
			reg[dst] &= imm
		case unix.BPF_JMP32 | unix.BPF_JNE | unix.BPF_K:
			if uint32(reg[dst]) != uint32(in.imm) {
				pc += int(in.off)
			}
		case unix.BPF_JMP32 | unix.BPF_JEQ | unix.BPF_K:
			if uint32(reg[dst]) == uint32(in.imm) {
				pc += int(in.off)
			}
		case unix.BPF_JMP | unix.BPF_EXIT:
			switch reg[regResult] {
			case 0:
				return false
			case 1:
				return true
			}
			t.Fatalf("pc %d: exit with %d", pc, reg[regResult])
		default:
			t.Fatalf("pc %d: unexpected instruction %#x", pc, in.code)
		}
		if dst == regCtx && in.code&0x07 != unix.BPF_JMP32 && in.code&0x07 != unix.BPF_JMP {
			ctxInR1 = false
		}
	}
	t.Fatal("the program runs off its end")
	return false
}

// deviceAccessGrid is every question about the numbers of rules, a few
// others, and those past 2^31, with every access and one bit the kernel
// does not ask about today.
func deviceAccessGrid(rules []specs.LinuxDeviceCgroup) []deviceAccess {
	nums := map[int64]bool{0: true, 1: true, 7: true, 2147483648: true, 4294967295: true}
	for _, r := range rules {
		if r.Major != nil && *r.Major >= 0 {
			nums[*r.Major] = true
		}
		if r.Minor != nil && *r.Minor >= 0 {
			nums[*r.Minor] = true
		}
	}
	var out []deviceAccess
	for _, typ := range []byte{'c', 'b'} {
		for major := range nums {
			for minor := range nums {
				for access := uint32(1); access <= deviceAccessAll<<1|1; access++ {
					out = append(out, deviceAccess{typ, major, minor, access})
				}
			}
		}
	}
	return out
}

// checkProgramMatchesList checks that the program of rules decides every
// question of the grid as the device list does.
func checkProgramMatchesList(t *testing.T, rules []specs.LinuxDeviceCgroup) {
	t.Helper()
	list, err := compileDeviceRules(rules)
	if err != nil {
		return
	}
	prog := deviceProgram(list)
	for _, a := range deviceAccessGrid(rules) {
		if got, want := runDeviceProgram(t, prog, a), list.permits(a.typ, a.major, a.minor, a.access); got != want {
			t.Fatalf("rules %+v: program says %v to %+v, the list %v", rules, got, a, want)
		}
	}
}

func TestDeviceProgramMatchesList(t *testing.T) {
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		nil,
		{{Allow: true, Access: "rwm"}},
		{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}},
		{{Allow: true, Type: "c", Major: i64(1), Access: "r"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "w"}},
		{{Allow: true, Type: "b", Minor: i64(0), Access: "m"}, {Allow: true, Type: "c", Access: "rwm"}},
		{{Allow: true, Access: "rwm"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(1), Access: "w"}, {Allow: false, Type: "b", Access: "m"}},
		{{Allow: true, Type: "c", Major: i64(4294967295), Minor: i64(2147483648), Access: "rwm"}},
	} {
		checkProgramMatchesList(t, rules)
	}
}

// FuzzDeviceProgram makes rule sets from arbitrary bytes, four a rule: the
// program of every set the list accepts must decide as the list does.
func FuzzDeviceProgram(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 1, 1, 1, 2, 3, 0, 7, 2})
	f.Add([]byte{1, 0, 0, 7, 0, 1, 1, 4, 0, 2, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*32 {
			return
		}
		nums := []*int64{nil, i64(0), i64(1), i64(7), i64(4294967295)}
		var rules []specs.LinuxDeviceCgroup
		for i := 0; i+4 <= len(data); i += 4 {
			access := ""
			for bit, c := range "rwm" {
				if data[i+3]&(1<<bit) != 0 {
					access += string(c)
				}
			}
			if access == "" {
				access = "r"
			}
			rules = append(rules, specs.LinuxDeviceCgroup{
				Allow: data[i]&1 != 0, Type: []string{"a", "c", "b"}[int(data[i]>>1)%3],
				Major: nums[int(data[i+1])%len(nums)], Minor: nums[int(data[i+2])%len(nums)], Access: access,
			})
		}
		checkProgramMatchesList(t, rules)
	})
}
