package seccomp

import (
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32Bit marks x32 system calls, which share the x86_64 audit architecture.
const x32Bit = 0x40000000

// arch is one architecture a filter handles.
type arch struct {
	name     specs.Arch
	audit    uint32
	syscalls syscallTable
	// x32 marks the x32 ABI, checked within the x86_64 section.
	x32 bool
	// args32 marks an ABI whose system call arguments are 32 bits wide.
	args32 bool
}

var (
	archX86_64 = &arch{name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, syscalls: syscallsX86_64}
	archX32    = &arch{name: specs.ArchX32, audit: unix.AUDIT_ARCH_X86_64, syscalls: syscallsX32, x32: true, args32: true}
	archI386   = &arch{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, syscalls: syscallsI386, args32: true}
	archARM64  = &arch{name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, syscalls: syscallsARM64}
)

var archs = map[specs.Arch]*arch{
	specs.ArchX86_64: archX86_64, specs.ArchX32: archX32, specs.ArchX86: archI386, specs.ArchAARCH64: archARM64,
}

// nativeArches are the architectures crisp runs on, by GOARCH.
var nativeArches = map[string]*arch{"amd64": archX86_64, "arm64": archARM64}

// nativeArch is the architecture crisp runs on, or nil when the filter
// compiler has no tables for it.
func nativeArch() *arch { return nativeArches[runtime.GOARCH] }

// Architectures returns the names of the architectures a profile may list,
// sorted.
func Architectures() []string {
	names := make([]string, 0, len(archs))
	for name := range archs {
		names = append(names, string(name))
	}
	sort.Strings(names)
	return names
}
