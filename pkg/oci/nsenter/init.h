// The container init's program: what crisp's parent compiles from an OCI
// spec and the init, in C, carries out in the container before it executes
// the container's process. See doc.go.
#ifndef CRISP_INIT_H
#define CRISP_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

// Operations. Every operation's first two arguments are the context that
// prefixes its errors and the spec field an error names ("" for none).
// The arguments listed below follow them. Numbers are decimal strings.
#define CRISP_OP_MOUNT 1            // source, target, fstype, flags, data: plain mount(2)
#define CRISP_OP_OPEN_ROOT 2        // path: the root later paths resolve in
#define CRISP_OP_MOUNT_IN_ROOT 3    // dest, source, fstype, flags, data, fallback ("sysfs", "devpts" or "")
#define CRISP_OP_BIND_IN_ROOT 4     // dest, source, dir (0/1), recursive (0/1)
#define CRISP_OP_REMOUNT_IN_ROOT 5  // dest, flags
#define CRISP_OP_PROPAGATE_IN_ROOT 6 // dest, flags
#define CRISP_OP_MKNOD_IN_ROOT 7    // path, mode, major, minor, uid, gid (-1: keep)
#define CRISP_OP_BIND_DEVICE 8      // path: the host's node, at the same path in the root
#define CRISP_OP_SYMLINK_IN_ROOT 9  // link target, path
#define CRISP_OP_HOOKS_SYNC 10      // ask the parent to run its hooks, wait for its ack
#define CRISP_OP_HOOK 11            // path, timeout seconds, stdin, argc, argv..., env...
#define CRISP_OP_PIVOT_ROOT 12      // rootfs, switch (0 pivot_root, 1 MS_MOVE and chroot, 2 chroot)
#define CRISP_OP_SETHOSTNAME 13     // name
#define CRISP_OP_SETDOMAINNAME 14   // name
#define CRISP_OP_WRITE_FILE 15      // path, contents
#define CRISP_OP_MASK_PATH 16       // path
#define CRISP_OP_READONLY_PATH 17   // path
#define CRISP_OP_REMOUNT 18         // path, flags
#define CRISP_OP_CONSOLE 19         // console socket fd, rows, columns (0: keep)
#define CRISP_OP_CHDIR 20           // path
#define CRISP_OP_RLIMIT 21          // resource, soft, hard
#define CRISP_OP_LOOK_PATH 22       // name, PATH
#define CRISP_OP_SECCOMP 23         // flags, BPF program (struct sock_filter array)
#define CRISP_OP_CAP_BOUNDING 24    // mask of capabilities kept, last capability
#define CRISP_OP_KEEP_CAPS 25       // 0/1
#define CRISP_OP_SETGROUPS 26       // gid...
#define CRISP_OP_SETRESGID 27       // gid
#define CRISP_OP_SETRESUID 28       // uid
#define CRISP_OP_CAPSET 29          // effective, permitted, inheritable, ambient masks
#define CRISP_OP_UMASK 30           // mask
#define CRISP_OP_NO_NEW_PRIVS 31
#define CRISP_OP_READY 32           // report ready; later failures go to stderr, exit 127
#define CRISP_OP_WAIT_START 33      // state dir fd: block on exec.fifo until start
#define CRISP_OP_EXEC 34            // argc, argv..., env...
#define CRISP_OP_PREPARE_EXEC 35    // preserved fds: close-on-exec the others, reset signals
#define CRISP_OP_SETATTR_IN_ROOT 36 // dest, attributes set, attributes cleared: mount_setattr(2) of the whole tree
#define CRISP_OP_APPARMOR 37        // profile: the AppArmor profile the process runs under after exec
#define CRISP_OP_SHARED_ROOT 38     // rootfs: private bind onto itself, detached if the init fails
#define CRISP_OP_DETACH_ROOT 39     // detach the root's mounts from the mount namespace
#define CRISP_OP_ATTACH_ROOT 40     // fd of a detached rootfs tree: stack it on /, make it the working directory
#define CRISP_OP_ATTACH_IN_ROOT 41  // dest, fd of a detached mount tree, dir (0/1): move_mount(2) it onto dest

// One decoded operation. Arguments are NUL-terminated; len excludes it.
struct crisp_op {
	uint32_t code;
	uint32_t argc;
	const char *what;
	const char *field;
	char **argv;
	uint32_t *len;
};

// The init's state across operations.
struct crisp_init {
	int syncfd;
	int rootfd;  // O_PATH handle of the root, or -1
	int ready;   // failures are now reported on stderr
	int fifofd;  // exec.fifo, open until exec
	// In a mount namespace crisp does not own, the bind of the rootfs
	// that holds the container's mounts ("/" once chrooted), detached
	// if the init fails; NULL once detached or in a new namespace.
	const char *shared_root;
	char path[4096]; // the executable found by CRISP_OP_LOOK_PATH
};

// Reporting, in nsenter.c.
void crisp_send(const char *type, long pid, const char *field, const char *message);
__attribute__((noreturn)) void crisp_op_fail(struct crisp_init *in, const struct crisp_op *op, int err,
					     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void crisp_await_ack(int fd);

struct crisp_log;

// The pod reaper, in reaper.c: PID 1 of a pod's shared PID namespace. It
// never returns.
__attribute__((noreturn)) void crisp_reaper(void);

// A spare, in spare.c: it waits for the descriptors and environment of one
// launch, puts them in place and returns; it exits when the runtime closes
// instead. A launch has at most CRISP_SPARE_MAX_FILES descriptors and
// CRISP_SPARE_MAX_ENV bytes of environment.
#define CRISP_SPARE_MAX_FILES 64
#define CRISP_SPARE_MAX_ENV 16384
void crisp_spare_wait(void);

// The monitor, in monitor.c: it waits for the init pid read from pidpipe
// (or, with restorer, the pid of the CRIU restoring the container, for the
// init CRIU restored), records its exit in statefd (with the OOM kills in
// cgroupfd, the cgroup's directory, which it takes) and, with a log, writes
// the container's output to it. It never returns.
__attribute__((noreturn)) void crisp_monitor(int pidpipe, int statefd, int cgroupfd, struct crisp_log *log, int stdin_fd,
					     int stdin_once, int ttysock, pid_t restorer);

// The context of errors in the program itself, in program.c.
extern const struct crisp_op crisp_program_op;

// The program, in program.c. It never returns.
__attribute__((noreturn)) void crisp_run_init(int syncfd);

// Operations, by concern.
void crisp_rootfs_op(struct crisp_init *in, const struct crisp_op *op);  // rootfs.c
void crisp_process_op(struct crisp_init *in, const struct crisp_op *op); // process.c
void crisp_run_hook(struct crisp_init *in, const struct crisp_op *op);   // hooks.c

// Descriptors, in fds.c. crisp_cloexec_from marks every descriptor >= low
// close-on-exec; crisp_detach_fds, for the processes that outlive their
// caller, puts stdio on /dev/null and closes every other descriptor but
// those of the list, which -1 ends.
void crisp_cloexec_from(int low);
void crisp_detach_fds(const int *fds);

// crisp_default_signals sets every signal but except (0 for none) to its
// default action and unblocks them all. The raw system call reaches the
// signals glibc keeps for itself (32 and 33), which a caller may have
// ignored too.
void crisp_default_signals(int except);

// crisp_now_ms is the monotonic clock in milliseconds.
static inline long long crisp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Argument parsing shared by the operations, in program.c.
long long crisp_arg_int(struct crisp_init *in, const struct crisp_op *op, uint32_t i);
unsigned long long crisp_arg_uint(struct crisp_init *in, const struct crisp_op *op, uint32_t i);
// crisp_arg returns argument i (after the context and the field) as a
// string, crisp_arg_bytes with its length for binary data; a missing
// argument, or a string with a NUL byte, ends the init. crisp_args_strings
// checks that the arguments from i on are strings.
const char *crisp_arg(struct crisp_init *in, const struct crisp_op *op, uint32_t i);
const char *crisp_arg_bytes(struct crisp_init *in, const struct crisp_op *op, uint32_t i, uint32_t *len);
void crisp_args_strings(struct crisp_init *in, const struct crisp_op *op, uint32_t from);

#endif
