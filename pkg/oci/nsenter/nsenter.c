// crisp's pre-runtime namespace entry. See doc.go for why this runs in C.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "logs.h"
#include "strbuf.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// Namespaces are joined in this order: the user namespace first, so that the
// others can be joined with the capabilities it grants, and the mount
// namespace last, because the other paths are resolved in the caller's.
static const struct {
	const char *env;
	int type;
} joinable[] = {
	{"_CRISP_INIT_NS_USER", CLONE_NEWUSER}, {"_CRISP_INIT_NS_IPC", CLONE_NEWIPC},
	{"_CRISP_INIT_NS_UTS", CLONE_NEWUTS},   {"_CRISP_INIT_NS_NET", CLONE_NEWNET},
	{"_CRISP_INIT_NS_PID", CLONE_NEWPID},   {"_CRISP_INIT_NS_CGROUP", CLONE_NEWCGROUP},
	{"_CRISP_INIT_NS_TIME", CLONE_NEWTIME}, {"_CRISP_INIT_NS_MNT", CLONE_NEWNS},
};
#define NJOINABLE (sizeof(joinable) / sizeof(joinable[0]))

static int syncfd = -1;

// Bounds of the parts of a message, so that a long context (a mount
// destination, a path) leaves room for the cause that follows it.
#define MSG_MAX 2048
#define MSG_PART_MAX 900
#define FIELD_JSON_MAX 1024

// append_json appends at most max bytes of s as a JSON string's contents,
// ending a cut string in "..."; an escape is never split.
static void append_json(struct crisp_strbuf *b, const char *s, size_t max)
{
	size_t end = b->len + max;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		// An escape takes up to 6 bytes; "..." 3 more.
		if (b->len + 6 + 3 > end || b->cap - b->len < 6 + 3 + 1) {
			crisp_strbuf_append(b, "...", 3);
			return;
		}
		if (c == '"' || c == '\\')
			crisp_strbuf_printf(b, "\\%c", c);
		else if (c < 0x20)
			crisp_strbuf_printf(b, "\\u%04x", c);
		else
			crisp_strbuf_append(b, (const char *)&c, 1);
	}
}

// crisp_send writes one JSON message to the parent.
void crisp_send(const char *type, long pid, const char *field, const char *message)
{
	char buf[4096];
	struct crisp_strbuf b;

	crisp_strbuf_init(&b, buf, sizeof(buf));
	crisp_strbuf_printf(&b, "{\"type\":\"%s\",\"pid\":%ld", type, pid);
	if (field && *field) {
		crisp_strbuf_printf(&b, ",\"field\":\"");
		append_json(&b, field, FIELD_JSON_MAX);
		crisp_strbuf_printf(&b, "\"");
	}
	if (message) {
		crisp_strbuf_printf(&b, ",\"message\":\"");
		// What is left but the closing bytes.
		append_json(&b, message, b.cap - b.len - 8);
		crisp_strbuf_printf(&b, "\"");
	}
	crisp_strbuf_printf(&b, "}\n");
	if (b.truncated)
		return; // cannot happen with the bounds above: never send half a message
	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(syncfd, buf + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

// crisp_op_fail reports a failed operation of the init's program and
// exits. Before the init reported ready the parent hears it (naming the
// spec field when there is one); afterwards only the process's stderr can.
// The message is the operation's context, the detail fmt formats and the
// error, each cut to a bound so that the cause always shows.
void crisp_op_fail(struct crisp_init *in, const struct crisp_op *op, int err, const char *fmt, ...)
{
	char msg[MSG_MAX], detail[MSG_PART_MAX + 1];
	struct crisp_strbuf b;

	crisp_strbuf_init(&b, msg, sizeof(msg));
	if (op->what && *op->what)
		crisp_strbuf_append_max(&b, op->what, MSG_PART_MAX);
	if (fmt) {
		struct crisp_strbuf d;
		va_list ap;
		crisp_strbuf_init(&d, detail, sizeof(detail));
		va_start(ap, fmt);
		crisp_strbuf_vprintf(&d, fmt, ap);
		va_end(ap);
		crisp_strbuf_mark_truncated(&d);
		crisp_strbuf_printf(&b, "%s%s", b.len ? ": " : "", detail);
	}
	if (err)
		crisp_strbuf_printf(&b, "%s%s", b.len ? ": " : "", strerror(err));
	crisp_strbuf_mark_truncated(&b);
	// The container's mounts in a namespace others use go with it.
	if (in->shared_root)
		umount2(in->shared_root, MNT_DETACH);
	if (in->ready) {
		dprintf(2, "crisp init: %s\n", msg);
		_exit(127);
	}
	crisp_send("error", getpid(), op->field, msg);
	_exit(1);
}

__attribute__((noreturn, format(printf, 1, 2))) static void bail(const char *fmt, ...)
{
	char msg[1024], detail[MSG_PART_MAX + 1];
	struct crisp_strbuf b, d;
	int saved = errno;
	va_list ap;

	crisp_strbuf_init(&d, detail, sizeof(detail));
	va_start(ap, fmt);
	crisp_strbuf_vprintf(&d, fmt, ap);
	va_end(ap);
	crisp_strbuf_mark_truncated(&d);
	crisp_strbuf_init(&b, msg, sizeof(msg));
	crisp_strbuf_printf(&b, "%s", detail);
	if (saved)
		crisp_strbuf_printf(&b, ": %s", strerror(saved));
	crisp_strbuf_mark_truncated(&b);
	crisp_send("error", getpid(), NULL, msg);
	_exit(1);
}

// crisp_await_ack blocks until the parent acknowledges the last message.
void crisp_await_ack(int fd)
{
	char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(1);
}

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	int fd = v ? atoi(v) : -1;
	unsetenv(name);
	return fd;
}

static void write_all(int fd, const void *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf = (const char *)buf + w;
		n -= w;
	}
}

// become_root makes the process root of the user namespace it entered, so
// that the files it creates have a mapped owner.
static void become_root(void)
{
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		bail("become root in the user namespace");
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		bail("drop supplementary groups");
}

static pid_t clone_into(int cgroupfd, int *joined)
{
	struct clone_args args;
	pid_t pid;

	*joined = 0;
	if (cgroupfd >= 0) {
		memset(&args, 0, sizeof(args));
		args.flags = CLONE_INTO_CGROUP;
		args.exit_signal = SIGCHLD;
		args.cgroup = (uint64_t)cgroupfd;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid >= 0) {
			*joined = 1;
			return pid;
		}
		if (errno != ENOSYS && errno != EINVAL && errno != E2BIG && errno != EOPNOTSUPP)
			bail("clone3 into cgroup");
	}
	return fork();
}

// exec_criu runs CRIU's RPC server on criufd, in the container's cgroup
// and the caller's namespaces, as the monitor's child: the processes CRIU
// restores as its siblings are the monitor's. It never returns.
__attribute__((noreturn)) static void exec_criu(const char *criu, int criufd, int pidpipe)
{
	char fd[16];
	struct crisp_strbuf b;

	if (!criu || *criu != '/') {
		errno = EINVAL;
		bail("criu path");
	}
	crisp_strbuf_init(&b, fd, sizeof(fd));
	crisp_strbuf_printf(&b, "%d", criufd);
	crisp_send("criu", getpid(), NULL, NULL);
	close(syncfd);
	close(pidpipe);
	signal(SIGPIPE, SIG_DFL);
	execl(criu, "criu", "swrk", fd, (char *)NULL);
	dprintf(2, "crisp: execute %s: %s\n", criu, strerror(errno));
	_exit(127);
}

__attribute__((constructor)) static void crisp_nsenter(void)
{
	const char *sync;
	int nsfds[NJOINABLE];
	int cgroupfd, statefd, exefd, ttysock, logdirfd, pidpipe[2], outpipe[2], errpipe[2], inpipe[2] = {-1, -1}, joined, joinpid = 0, nsenters;
	const char *logpath, *stdin_mode, *criu;
	int criufd;
	static struct crisp_log logger;
	unsigned long cloneflags;
	pid_t child;

	if (getenv("_CRISP_REAPER"))
		crisp_reaper();
	if (getenv("_CRISP_SPARE"))
		crisp_spare_wait();
	sync = getenv("_CRISP_INIT_SYNC");
	if (!sync)
		return;
	syncfd = atoi(sync);
	// Closed standard descriptors would be reused by the pipes below.
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			bail("open /dev/null");
	// A failed write is reported by its return value.
	signal(SIGPIPE, SIG_IGN);
	cgroupfd = env_fd("_CRISP_INIT_CGROUP");
	statefd = env_fd("_CRISP_INIT_STATE");
	exefd = env_fd("_CRISP_INIT_EXE");
	// The monitor's end of the socket on which the init sends the
	// terminal's master, when the monitor holds the container's terminal.
	ttysock = env_fd("_CRISP_INIT_TTY");
	if (exefd >= 0)
		close(exefd);
	// A restore: the child executes CRIU (swrk, serving on criufd) in
	// place of an init.
	criufd = env_fd("_CRISP_INIT_RESTORE");
	criu = getenv("_CRISP_INIT_CRIU");
	unsetenv("_CRISP_INIT_CRIU");
	cloneflags = getenv("_CRISP_INIT_CLONE") ? strtoul(getenv("_CRISP_INIT_CLONE"), NULL, 10) : 0;
	unsetenv("_CRISP_INIT_CLONE");
	// The log is a file name in the directory _CRISP_INIT_LOG_DIR.
	logpath = getenv("_CRISP_INIT_LOG");
	logdirfd = env_fd("_CRISP_INIT_LOG_DIR");
	// "open" or "once": the monitor holds the container's stdin for
	// attached clients (CRI's stdin and stdin_once).
	stdin_mode = getenv("_CRISP_INIT_STDIN");

	// Open every namespace before joining any, while the paths still
	// resolve in the caller's mount namespace.
	for (size_t i = 0; i < NJOINABLE; i++) {
		const char *path = getenv(joinable[i].env);
		nsfds[i] = -1;
		if (!path)
			continue;
		nsfds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfds[i] < 0)
			bail("open namespace %s", path);
		unsetenv(joinable[i].env);
	}

	if (getenv("_CRISP_INIT_DETACH")) {
		// Double fork: the monitor outlives its caller and is reaped
		// by the system, not by the process that created it.
		unsetenv("_CRISP_INIT_DETACH");
		child = fork();
		if (child < 0)
			bail("fork monitor");
		if (child > 0)
			_exit(0);
		setsid();
	}
	crisp_send("monitor", getpid(), NULL, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		bail("become subreaper");
	if (pipe2(pidpipe, O_CLOEXEC) < 0)
		bail("pipe");
	logger.fd = -1;
	if (logpath) {
		// The monitor writes the container's stdout and stderr to its
		// log, so that no line depends on crisp's daemon.
		if (logdirfd < 0 || strchr(logpath, '/') || !strcmp(logpath, ".") || !strcmp(logpath, "..")) {
			errno = EINVAL;
			bail("container log %s: not a file name in a directory handle", logpath);
		}
		if (strlen(logpath) >= sizeof(logger.name)) {
			errno = ENAMETOOLONG;
			bail("open container log");
		}
		memcpy(logger.name, logpath, strlen(logpath) + 1);
		logger.dirfd = logdirfd;
		if (crisp_log_open(&logger) < 0)
			bail("open container log %s", logger.name);
		if (pipe2(outpipe, O_CLOEXEC) < 0 || pipe2(errpipe, O_CLOEXEC) < 0)
			bail("log pipes");
		logger.out = (struct crisp_stream){.fd = outpipe[0], .name = "stdout"};
		logger.err = (struct crisp_stream){.fd = errpipe[0], .name = "stderr"};
		if (stdin_mode && pipe2(inpipe, O_CLOEXEC) < 0)
			bail("stdin pipe");
	}

	child = clone_into(cgroupfd, &joined);
	if (child < 0)
		bail("clone init");
	if (child > 0) {
		close(syncfd);
		close(pidpipe[1]);
		for (size_t i = 0; i < NJOINABLE; i++)
			if (nsfds[i] >= 0)
				close(nsfds[i]);
		if (logger.fd >= 0) {
			close(outpipe[1]);
			close(errpipe[1]);
		}
		if (inpipe[0] >= 0)
			close(inpipe[0]);
		crisp_monitor(pidpipe[0], statefd, cgroupfd, logger.fd >= 0 ? &logger : NULL, inpipe[1],
			      stdin_mode && strcmp(stdin_mode, "once") == 0, ttysock, criufd >= 0 ? child : 0);
	}

	// The container side. Nothing here may return to the monitor.
	prctl(PR_SET_NAME, "crisp-init", 0, 0, 0);
	// A signal crisp's caller ignored (a daemon run under nohup ignores
	// SIGHUP) must not be lost while the init sets up: a hangup or a stop
	// then ends the init as it would end the process. SIGPIPE stays
	// ignored until exec: a failed write is reported by its return value.
	crisp_default_signals(SIGPIPE);
	close(pidpipe[0]);
	if (ttysock >= 0)
		close(ttysock);
	if (logger.fd >= 0) {
		if (dup2(outpipe[1], 1) < 0 || dup2(errpipe[1], 2) < 0)
			bail("log pipes as stdio");
		close(outpipe[0]), close(outpipe[1]), close(errpipe[0]), close(errpipe[1]);
		close(logger.fd);
		// A handle on a host directory inside the container would be
		// a way out of its root.
		close(logger.dirfd);
		if (inpipe[0] >= 0) {
			if (dup2(inpipe[0], 0) < 0)
				bail("stdin pipe as stdin");
			close(inpipe[0]), close(inpipe[1]);
		}
	}
	if (statefd >= 0)
		close(statefd);
	if (cgroupfd >= 0)
		close(cgroupfd);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (criufd >= 0)
		exec_criu(criu, criufd, pidpipe[1]);
	// Until it executes the container's process, the init holds
	// descriptors of the host (the state directory, the root before the
	// pivot): processes already in the namespaces it joins must not
	// ptrace it or open its /proc files (CVE-2016-9962). execve makes the
	// process dumpable again.
	nsenters = cloneflags != 0;
	for (size_t i = 0; i < NJOINABLE; i++)
		nsenters |= nsfds[i] >= 0;
	if (nsenters && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("make the init non-dumpable");
	if (!joined && cgroupfd >= 0) {
		crisp_send("cgroup", getpid(), NULL, NULL);
		crisp_await_ack(syncfd);
	}
	for (size_t i = 0; i < NJOINABLE; i++) {
		if (nsfds[i] < 0)
			continue;
		if (setns(nsfds[i], joinable[i].type) < 0)
			bail("join namespace %s", joinable[i].env + sizeof("_CRISP_INIT_NS_") - 1);
		if (joinable[i].type == CLONE_NEWPID)
			joinpid = 1;
		if (joinable[i].type == CLONE_NEWUSER)
			become_root();
		close(nsfds[i]);
	}
	if (cloneflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
		// The parent writes uid_map and gid_map, then lets us go on. The
		// files of a non-dumpable process belong to the host's root,
		// which the parent may not be in every user namespace.
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			bail("make the init dumpable for its id maps");
		crisp_send("userns", getpid(), NULL, NULL);
		crisp_await_ack(syncfd);
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			bail("make the init non-dumpable");
		become_root();
	}
	if (cloneflags & ~(unsigned long)CLONE_NEWUSER) {
		if (unshare(cloneflags & ~(unsigned long)CLONE_NEWUSER) < 0)
			bail("unshare namespaces 0x%lx", cloneflags & ~(unsigned long)CLONE_NEWUSER);
	}
	if ((cloneflags & (CLONE_NEWPID | CLONE_NEWTIME)) || joinpid) {
		// New pid and time namespaces apply to children only: fork.
		child = fork();
		if (child < 0)
			bail("fork into pid namespace");
		if (child > 0) {
			write_all(pidpipe[1], &child, sizeof(child));
			crisp_send("init", child, NULL, NULL);
			_exit(0);
		}
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	} else {
		pid_t self = getpid();
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		write_all(pidpipe[1], &self, sizeof(self));
		crisp_send("init", self, NULL, NULL);
	}
	close(pidpipe[1]);
	// A session of its own, as runc's init has: the monitor's session
	// leader is outside the container's pid namespace, where neither the
	// container nor CRIU, dumping it, can reach it.
	if (setsid() < 0)
		bail("setsid");
	// The container's init: it never returns to start the Go runtime.
	crisp_run_init(syncfd);
}
