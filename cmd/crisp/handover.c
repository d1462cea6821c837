// `crisp oci …` is served by crisp-oci, the executor's own program, when one
// is installed beside crisp: it links none of the image, CNI and CRI code
// whose Go initialisers make up most of crisp's start-up. Without crisp-oci
// beside it, crisp serves the command itself.
//
// The hand-over is an execve before the Go runtime starts, and, where the
// Makefile links crisp (amd64), before the C library does: crisp's ELF
// entry point is crisp_entry, which hands over or goes on to the C
// library's _start. The C library's start-up in a 30 MB static binary
// costs the command about 40 page faults (a page fault costs about 25 µs
// on the 2-core build host) and 1.5 ms. A binary linked without that
// entry point (go build, go test) hands over from a constructor instead,
// with the same code. That code runs without the C library, so it makes
// its own system calls and calls no library function, and it has no stack
// protector: the canary lives in thread-local storage the C library has
// not set up yet.
//
// crisp-oci is a short command that mostly waits for one process after
// another: its Go runtime starts with a single P unless the caller set
// GOMAXPROCS, which saves it threads, per-P caches and their page faults
// (about 0.9 ms of a `crisp oci run` on a 2-core host, docs/oci.md). Only
// the runtime reads the value: HANDOVER_MARK tells crisp-oci to remove
// both variables before it starts anything, so that the processes it
// starts see the caller's environment.
#define _GNU_SOURCE
#include <limits.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#if !defined(__x86_64__)
#include <unistd.h>
#endif

#define HANDOVER_NAME "crisp-oci"
#define HANDOVER_MARK "_CRISP_OCI_GOMAXPROCS=1"

// Code that runs before the C library: no stack protector, and no loop the
// compiler may turn into a call of memcpy or strlen.
#define BEFORE_LIBC __attribute__((no_stack_protector, optimize("no-tree-loop-distribute-patterns")))

// tried is set once a hand-over was tried, so that the constructor does
// not try again what crisp_entry tried.
static int tried;

BEFORE_LIBC static long raw_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
#else
	// Elsewhere only the constructor hands over, after the C library
	// started: its system call wrapper is safe then.
	return syscall(nr, a, b, c, d, e, f);
#endif
}

// has_prefix reports whether s starts with prefix.
BEFORE_LIBC static int has_prefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (*s != *prefix)
			return 0;
	return 1;
}

// has_env reports whether envp sets the variable that assignment (as
// "NAME=") names.
BEFORE_LIBC static int has_env(char **envp, const char *assignment)
{
	for (; envp != NULL && *envp != NULL; envp++)
		if (has_prefix(*envp, assignment))
			return 1;
	return 0;
}

// with_gomaxprocs is envp with GOMAXPROCS=1 and HANDOVER_MARK in an array
// the caller unmaps (*size bytes), or envp itself when it sets GOMAXPROCS
// already or on any failure.
BEFORE_LIBC static char **with_gomaxprocs(char **envp, size_t *size)
{
	static char gomaxprocs[] = "GOMAXPROCS=1", mark[] = HANDOVER_MARK;
	size_t n = 0;
	long addr;
	char **env;

	*size = 0;
	if (envp == NULL || has_env(envp, "GOMAXPROCS="))
		return envp;
	while (envp[n] != NULL)
		n++;
	*size = (n + 3) * sizeof(*env);
	addr = raw_syscall(SYS_mmap, 0, (long)*size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr < 0 && addr > -4096) {
		*size = 0;
		return envp;
	}
	env = (char **)addr;
	for (size_t i = 0; i < n; i++)
		env[i] = envp[i];
	env[n] = gomaxprocs;
	env[n + 1] = mark;
	env[n + 2] = NULL;
	return env;
}

// handover executes the crisp-oci beside this binary for `crisp oci …`; it
// returns when the command is not one, or crisp-oci cannot be executed
// (then crisp serves the command itself).
BEFORE_LIBC static void handover(int argc, char **argv, char **envp)
{
	static const char name[] = HANDOVER_NAME;
	char path[PATH_MAX], **env;
	long n;
	size_t slash = 0, size;

	if (tried)
		return;
	tried = 1;
	if (argc < 2 || argv == NULL || argv[1] == NULL || !has_prefix(argv[1], "oci") || argv[1][3] != '\0')
		return;
	// A container's init or a pod's reaper is crisp re-executed by the
	// executor (pkg/oci/nsenter); CRISP_OCI_IN_PROCESS keeps the command in
	// crisp (tests of the fallback).
	if (has_env(envp, "_CRISP_INIT_SYNC=") || has_env(envp, "_CRISP_REAPER=") || has_env(envp, "CRISP_OCI_IN_PROCESS="))
		return;
	n = raw_syscall(SYS_readlink, (long)"/proc/self/exe", (long)path, sizeof(path) - 1, 0, 0, 0);
	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		return;
	for (long i = 0; i < n; i++)
		if (path[i] == '/')
			slash = (size_t)i + 1;
	if (slash == 0 || slash + sizeof(name) > sizeof(path))
		return;
	for (size_t i = 0; i < sizeof(name); i++)
		path[slash + i] = name[i];
	env = with_gomaxprocs(envp, &size);
	// On success this does not return.
	raw_syscall(SYS_execve, (long)path, (long)argv, (long)env, 0, 0, 0);
	if (size > 0)
		raw_syscall(SYS_munmap, (long)env, (long)size, 0, 0, 0, 0);
}

#if defined(__x86_64__)
void crisp_entry_handover(long *sp);

// crisp_entry_handover is handover from the process's first stack: argc,
// then argv and envp, each ending with NULL.
BEFORE_LIBC __attribute__((used, visibility("hidden"))) void crisp_entry_handover(long *sp)
{
	char **argv = (char **)(sp + 1);

	handover((int)sp[0], argv, argv + sp[0] + 1);
}

// crisp_entry is crisp's ELF entry point where the Makefile links it: it
// calls crisp_entry_handover with the first stack, on a stack aligned for
// the call, then restores the stack pointer and %rdx (the dynamic linker's
// finaliser, which _start reads) and jumps to the C library's _start.
__asm__(".text\n"
	".globl crisp_entry\n"
	".type crisp_entry, @function\n"
	"crisp_entry:\n"
	"	mov %rsp, %r12\n"
	"	mov %rdx, %r13\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call crisp_entry_handover\n"
	"	mov %r12, %rsp\n"
	"	mov %r13, %rdx\n"
	"	jmp _start\n"
	".size crisp_entry, .-crisp_entry\n");
#endif

// glibc passes the program's arguments to ELF constructors.
__attribute__((constructor)) static void crisp_oci_handover(int argc, char **argv, char **envp)
{
	handover(argc, argv, envp);
}
