// The container process's attributes: terminal, working directory, limits,
// seccomp, credentials and capabilities, the wait for start, and exec.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"
#include "strbuf.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// console makes a pseudo-terminal the process's controlling terminal and
// stdio, and sends its master to the console socket.
static void console(struct crisp_init *in, const struct crisp_op *op)
{
	int sock = crisp_arg_int(in, op, 0);
	unsigned short rows = crisp_arg_uint(in, op, 1), cols = crisp_arg_uint(in, op, 2);
	int master, peer, unlock = 0;
	char payload[] = "/dev/ptmx", control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = payload, .iov_len = sizeof(payload) - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	struct cmsghdr *cmsg;

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		crisp_op_fail(in, op, errno, "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		crisp_op_fail(in, op, errno, "unlock pty");
	// TIOCGPTPEER opens the peer without a path lookup in /dev/pts.
	peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0) {
		unsigned int n;
		char path[64];
		struct crisp_strbuf b;
		if (ioctl(master, TIOCGPTN, &n) < 0)
			crisp_op_fail(in, op, errno, "pty number");
		crisp_strbuf_init(&b, path, sizeof(path));
		crisp_strbuf_printf(&b, "/dev/pts/%u", n);
		if ((peer = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
			crisp_op_fail(in, op, errno, "open pty peer");
	}
	if (rows || cols) {
		struct winsize ws = {.ws_row = rows, .ws_col = cols};
		if (ioctl(peer, TIOCSWINSZ, &ws) < 0)
			crisp_op_fail(in, op, errno, "process.consoleSize");
	}
	memset(control, 0, sizeof(control));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
	if (sendmsg(sock, &msg, 0) < 0)
		crisp_op_fail(in, op, errno, "send console to socket");
	close(sock);
	close(master);
	// The init leads a session of its own already (nsenter.c).
	if (getsid(0) != getpid() && setsid() < 0)
		crisp_op_fail(in, op, errno, "setsid");
	if (ioctl(peer, TIOCSCTTY, 0) < 0)
		crisp_op_fail(in, op, errno, "controlling terminal");
	for (int fd = 0; fd < 3; fd++)
		if (dup3(peer, fd, 0) < 0)
			crisp_op_fail(in, op, errno, "stdio");
	if (peer > 2)
		close(peer);
}

static void write_file(struct crisp_init *in, const struct crisp_op *op, const char *path, const char *data,
		       size_t n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		crisp_op_fail(in, op, errno, "open %s", path);
	w = write(fd, data, n);
	if (w < 0 || (size_t)w != n) {
		int saved = w < 0 ? errno : EIO;
		close(fd);
		errno = saved;
		crisp_op_fail(in, op, errno, "write %s", path);
	}
	close(fd);
}

static int executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

// look_path finds the process's executable with the process's own PATH.
static void look_path(struct crisp_init *in, const struct crisp_op *op)
{
	const char *name = crisp_arg(in, op, 0), *pathenv = crisp_arg(in, op, 1);
	char *dirs;
	struct stat st;
	struct crisp_strbuf b;

	if (strchr(name, '/')) {
		if (stat(name, &st) < 0)
			crisp_op_fail(in, op, errno, "stat %s", name);
		crisp_strbuf_init(&b, in->path, sizeof(in->path));
		crisp_strbuf_printf(&b, "%s", name);
		if (b.truncated)
			crisp_op_fail(in, op, ENAMETOOLONG, "%s", name);
		return;
	}
	dirs = strdup(pathenv);
	if (!dirs)
		crisp_op_fail(in, op, ENOMEM, NULL);
	// strsep keeps empty entries, which mean the working directory.
	for (char *p = dirs, *dir; (dir = strsep(&p, ":"));) {
		crisp_strbuf_init(&b, in->path, sizeof(in->path));
		crisp_strbuf_printf(&b, "%s/%s", *dir ? dir : ".", name);
		// A cut path would name another file: such a directory has none.
		if (!b.truncated && executable(in->path)) {
			free(dirs);
			return;
		}
	}
	free(dirs);
	crisp_op_fail(in, op, 0, "\"%s\": executable file not found in $PATH in PATH %s", name, pathenv);
}

static void seccomp_load(struct crisp_init *in, const struct crisp_op *op)
{
	unsigned long flags = crisp_arg_uint(in, op, 0);
	uint32_t len;
	const char *bpf = crisp_arg_bytes(in, op, 1, &len);
	struct sock_fprog prog = {.len = len / sizeof(struct sock_filter)};

	if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		crisp_op_fail(in, op, EINVAL, "program of %u bytes", len);
	// Arguments are not aligned in the program: copy the instructions.
	prog.filter = malloc(len);
	if (!prog.filter)
		crisp_op_fail(in, op, ENOMEM, NULL);
	memcpy(prog.filter, bpf, len);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
		crisp_op_fail(in, op, errno, "install seccomp filter");
	free(prog.filter);
}

static void cap_bounding(struct crisp_init *in, const struct crisp_op *op)
{
	unsigned long long keep = crisp_arg_uint(in, op, 0);
	int last = crisp_arg_int(in, op, 1);

	for (int c = 0; c <= last && c < 64; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			crisp_op_fail(in, op, errno, "bounding set: drop %d", c);
}

static void cap_set(struct crisp_init *in, const struct crisp_op *op)
{
	unsigned long long eff = crisp_arg_uint(in, op, 0), perm = crisp_arg_uint(in, op, 1);
	unsigned long long inh = crisp_arg_uint(in, op, 2), amb = crisp_arg_uint(in, op, 3);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {
		{.effective = eff, .permitted = perm, .inheritable = inh},
		{.effective = eff >> 32, .permitted = perm >> 32, .inheritable = inh >> 32},
	};

	if (syscall(SYS_capset, &hdr, data) < 0)
		crisp_op_fail(in, op, errno, "capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		crisp_op_fail(in, op, errno, "ambient capabilities");
	for (int c = 0; c < 64; c++)
		if ((amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			crisp_op_fail(in, op, errno, "ambient capabilities: raise %d", c);
}

static void set_groups(struct crisp_init *in, const struct crisp_op *op)
{
	uint32_t n = op->argc - 2;
	gid_t *gids = calloc(n ? n : 1, sizeof(gid_t));

	if (!gids)
		crisp_op_fail(in, op, ENOMEM, NULL);
	for (uint32_t i = 0; i < n; i++)
		gids[i] = crisp_arg_uint(in, op, i);
	if (setgroups(n, gids) < 0)
		crisp_op_fail(in, op, errno, NULL);
	free(gids);
}

// wait_start reports nothing and blocks until Start opens exec.fifo for
// reading. The fifo stays open until exec closes it (O_CLOEXEC): Start
// returns once it sees the end, after the process runs.
static void wait_start(struct crisp_init *in, const struct crisp_op *op)
{
	int dirfd = crisp_arg_int(in, op, 0);
	char zero = 0;

	in->fifofd = openat(dirfd, "exec.fifo", O_WRONLY | O_CLOEXEC);
	if (in->fifofd < 0)
		crisp_op_fail(in, op, errno, "open start fifo");
	if (write(in->fifofd, &zero, 1) != 1)
		crisp_op_fail(in, op, errno, "write start fifo");
	close(dirfd);
}

void crisp_default_signals(int except)
{
	// The kernel's struct sigaction: glibc's refuses the signals it keeps
	// for itself (32 and 33), which a caller may still have ignored.
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = {.handler = SIG_DFL};
	sigset_t none;

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != except)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

// reset_signals gives the process the signal state of a fresh one: every
// signal at its default action and none blocked. Ignored signals stay
// ignored across exec, and crisp's caller may have ignored some.
static void reset_signals(void)
{
	crisp_default_signals(0);
}

// apparmor_onexec makes the kernel switch the process to an AppArmor
// profile when it executes its program, as apparmor_parser's change_onexec
// does: the init itself stays unconfined until then. Kernels before 5.1
// have the file one level up.
static void apparmor_onexec(struct crisp_init *in, const struct crisp_op *op)
{
	char buf[1100];
	struct crisp_strbuf b;
	int fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		fd = open("/proc/self/attr/exec", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		crisp_op_fail(in, op, errno, "open the process's AppArmor exec attribute");
	crisp_strbuf_init(&b, buf, sizeof(buf));
	crisp_strbuf_printf(&b, "exec %s", crisp_arg(in, op, 0));
	if (b.truncated)
		crisp_op_fail(in, op, ENAMETOOLONG, "profile name");
	if (write(fd, buf, b.len) != (ssize_t)b.len)
		crisp_op_fail(in, op, errno, "set the profile");
	close(fd);
}

// own_null_stdio replaces the standard descriptors that are the host's
// /dev/null (what a caller without stdio gives) with the container's own:
// a file of a mount outside the container's mount namespace is one CRIU
// cannot checkpoint. A container without /dev/null keeps the host's.
static void own_null_stdio(void)
{
	int null = -1;
	struct stat st;

	for (int fd = 0; fd < 3; fd++) {
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
			continue;
		if (null < 0 && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			return;
		dup3(null, fd, 0);
	}
	if (null >= 0)
		close(null);
}

// exec_process executes the container's process. It makes no other system
// call: a seccomp filter installed just before may allow nothing else.
static void exec_process(struct crisp_init *in, const struct crisp_op *op)
{
	// Compared before it is narrowed: a count beyond the operation's
	// arguments must not wrap around into it.
	unsigned long long n = crisp_arg_uint(in, op, 0);
	uint32_t argc;
	char **argv, **envp;

	if (n == 0 || n > op->argc - 3)
		crisp_op_fail(in, op, EINVAL, "%llu arguments", n);
	argc = (uint32_t)n;
	crisp_args_strings(in, op, 1);
	// The environment follows the arguments; split the array.
	envp = calloc(op->argc - 3 - argc + 1, sizeof(char *));
	if (!envp)
		crisp_op_fail(in, op, ENOMEM, NULL);
	memcpy(envp, op->argv + 3 + argc, (op->argc - 3 - argc) * sizeof(char *));
	argv = calloc(argc + 1, sizeof(char *));
	if (!argv)
		crisp_op_fail(in, op, ENOMEM, NULL);
	memcpy(argv, op->argv + 3, argc * sizeof(char *));
	execve(in->path, argv, envp);
	crisp_op_fail(in, op, errno, "exec %s", in->path);
}

void crisp_process_op(struct crisp_init *in, const struct crisp_op *op)
{
	switch (op->code) {
	case CRISP_OP_SETHOSTNAME: {
		const char *name = crisp_arg(in, op, 0);
		if (sethostname(name, strlen(name)) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_SETDOMAINNAME: {
		const char *name = crisp_arg(in, op, 0);
		if (setdomainname(name, strlen(name)) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_WRITE_FILE: {
		const char *path = crisp_arg(in, op, 0), *data;
		uint32_t len;
		data = crisp_arg_bytes(in, op, 1, &len);
		write_file(in, op, path, data, len);
		break;
	}
	case CRISP_OP_CONSOLE:
		console(in, op);
		break;
	case CRISP_OP_CHDIR:
		if (chdir(crisp_arg(in, op, 0)) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	case CRISP_OP_RLIMIT: {
		struct rlimit rl = {.rlim_cur = crisp_arg_uint(in, op, 1), .rlim_max = crisp_arg_uint(in, op, 2)};
		if (setrlimit(crisp_arg_int(in, op, 0), &rl) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_LOOK_PATH:
		look_path(in, op);
		break;
	case CRISP_OP_SECCOMP:
		seccomp_load(in, op);
		break;
	case CRISP_OP_CAP_BOUNDING:
		cap_bounding(in, op);
		break;
	case CRISP_OP_KEEP_CAPS:
		if (prctl(PR_SET_KEEPCAPS, crisp_arg_int(in, op, 0), 0, 0, 0) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	case CRISP_OP_SETGROUPS:
		set_groups(in, op);
		break;
	case CRISP_OP_SETRESGID: {
		gid_t g = crisp_arg_uint(in, op, 0);
		if (setresgid(g, g, g) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_SETRESUID: {
		uid_t u = crisp_arg_uint(in, op, 0);
		if (setresuid(u, u, u) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_CAPSET:
		cap_set(in, op);
		break;
	case CRISP_OP_UMASK:
		umask(crisp_arg_uint(in, op, 0));
		break;
	case CRISP_OP_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	case CRISP_OP_READY:
		crisp_send("ready", getpid(), NULL, NULL);
		in->ready = 1;
		break;
	case CRISP_OP_WAIT_START:
		wait_start(in, op);
		break;
	case CRISP_OP_PREPARE_EXEC:
		// Only stdio and the preserved descriptors (3 and up, like
		// runc's --preserve-fds) stay open across exec.
		crisp_cloexec_from(3 + crisp_arg_uint(in, op, 0));
		own_null_stdio();
		reset_signals();
		break;
	case CRISP_OP_APPARMOR:
		apparmor_onexec(in, op);
		break;
	case CRISP_OP_EXEC:
		exec_process(in, op);
		break;
	default:
		crisp_op_fail(in, &crisp_program_op, 0, "unknown operation %u", op->code);
	}
}
