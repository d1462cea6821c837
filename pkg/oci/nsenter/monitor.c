// The container's monitor: the process that stays behind when crisp starts
// a container. It waits for the init, records how it ended (its wait status
// and the OOM kills in its cgroup) and, when the container has a log, writes
// the container's output to it. It never enters the Go runtime, so it costs
// a few pages of memory per container.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "init.h"
#include "logs.h"
#include "strbuf.h"

// After the init exits, output is still read for this long: a process it
// left behind may hold the pipes open.
#define DRAIN_MS 2000

// record stores value as <state>/<name>, atomically: through tmp, a
// temporary name in the same directory.
static void record(int statefd, const char *name, const char *tmp, long long value)
{
	char buf[32];
	struct crisp_strbuf b;
	int fd;
	if (statefd < 0)
		return;
	fd = openat(statefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	crisp_strbuf_init(&b, buf, sizeof(buf));
	crisp_strbuf_printf(&b, "%lld\n", value);
	if (write(fd, buf, b.len) != (ssize_t)b.len) {
		close(fd);
		return;
	}
	close(fd);
	renameat(statefd, tmp, statefd, name);
}

// oom_watch follows memory.events of the container's cgroup, whose
// oom_kill counts the processes of the cgroup the OOM killer killed. The
// count must be had while the cgroup exists: systemd removes a scope's
// cgroup as soon as its last process is gone, possibly before the exit is
// handled. The kernel raises the count before it sends SIGKILL, and a
// change of the file raises POLLPRI.
struct oom_watch {
	int dir;        // the cgroup's directory, or -1
	int fd;         // its memory.events, or -1
	long long base; // oom_kill when the watch began, -1 if it never did
	long long last; // oom_kill when last read
	// The parent's memory.events, whose oom_kill counts the whole
	// subtree, and its count when the cgroup's own was last read: when
	// the cgroup is gone before the final read, a rise of the parent's
	// count since then is the only trace of a kill in that window.
	int parent;
	long long parent_last;
	int gone; // the cgroup's own file went away
};

// oom_read returns oom_kill from the watch's memory.events, -1 if it cannot
// be read.
static long long oom_read(int fd)
{
	char buf[512], *p;
	ssize_t n;
	do
		n = pread(fd, buf + 1, sizeof(buf) - 2, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	// A line of its own: "oom_kill N".
	buf[0] = '\n', buf[n + 1] = 0;
	p = strstr(buf, "\noom_kill ");
	return p ? strtoll(p + 10, NULL, 10) : -1;
}

// oom_open starts the watch on the cgroup's directory cgroupfd, which it
// takes. Without the memory controller there is nothing to watch.
static void oom_open(struct oom_watch *w, int cgroupfd)
{
	w->dir = cgroupfd, w->fd = w->parent = -1, w->base = w->last = w->parent_last = -1, w->gone = 0;
	if (cgroupfd >= 0) {
		w->fd = openat(cgroupfd, "memory.events", O_RDONLY | O_CLOEXEC);
		w->parent = openat(cgroupfd, "../memory.events", O_RDONLY | O_CLOEXEC);
	}
	if (w->parent >= 0)
		w->parent_last = oom_read(w->parent);
	if (w->fd >= 0)
		w->base = w->last = oom_read(w->fd);
	if (w->base < 0) {
		if (w->parent >= 0)
			close(w->parent);
		w->parent = -1;
		if (w->fd >= 0)
			close(w->fd);
		if (cgroupfd >= 0)
			close(cgroupfd);
		w->dir = w->fd = -1;
	}
}

static void oom_close(struct oom_watch *w)
{
	if (w->parent >= 0)
		close(w->parent);
	w->parent = -1;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dir >= 0)
		close(w->dir);
	w->fd = w->dir = -1;
}

// oom_update reads the count again. The file goes when the controller is
// disabled for the cgroup (it is reopened if it came back) or when the
// cgroup is removed: then the watch ends with the last count.
static void oom_update(struct oom_watch *w)
{
	long long n, p = -1;
	if (w->fd < 0)
		return;
	// The parent first: a kill counted in the cgroup's own file after
	// this read is counted in both, never in neither.
	if (w->parent >= 0)
		p = oom_read(w->parent);
	n = oom_read(w->fd);
	if (n < 0) {
		close(w->fd);
		w->fd = openat(w->dir, "memory.events", O_RDONLY | O_CLOEXEC);
		if (w->fd < 0 || (n = oom_read(w->fd)) < 0) {
			w->gone = 1;
			if (w->fd >= 0)
				close(w->fd);
			w->fd = -1;
			return;
		}
	}
	if (n > w->last)
		w->last = n;
	if (p >= 0)
		w->parent_last = p;
}

// oom_kills returns the OOM kills of the watch's lifetime. When the cgroup
// went before its last kills could be read and the init died of SIGKILL,
// the parent's count says whether a kill happened meanwhile: another
// cgroup below the same parent could be its victim, but only within that
// window, and only when the init was killed too.
static long long oom_kills(struct oom_watch *w, int status)
{
	long long kills = w->last - w->base, p;
	if (w->gone && kills == 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && w->parent >= 0 &&
	    w->parent_last >= 0 && (p = oom_read(w->parent)) > w->parent_last)
		kills = p - w->parent_last;
	return kills;
}

// record_exit stores, once the init exited, the OOM kills of its lifetime
// as <state>/oom (when the cgroup has the memory controller) and then the
// raw wait status as <state>/exit: whoever sees the exit finds the count.
static void record_exit(int statefd, struct oom_watch *oom, int status)
{
	if (oom->base >= 0) {
		oom_update(oom);
		record(statefd, "oom", "oom.tmp", oom_kills(oom, status));
		oom_close(oom);
	}
	record(statefd, "exit", "exit.tmp", status);
}

// reap collects every exited child; it returns 1 and sets *status when one
// of them is the init.
static int reap(pid_t init, int flags, int *status)
{
	int found = 0;
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, flags);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return found;
		if (init > 0 && w == init) {
			*status = st;
			found = 1;
			if (!(flags & WNOHANG))
				return found;
		}
	}
}

// follow runs the monitor of a container with a log: it writes the output
// of both streams while the container runs, reopens the log on SIGUSR1
// (after the kubelet rotated it) and, once the init exited, drains what is
// left.
// receive_tty takes the terminal master the init sends on sock (see
// console in process.c); -1 when none came.
static int receive_tty(int sock)
{
	char data[64], control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	struct cmsghdr *cmsg;
	int fd = -1;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

// take_tty makes the terminal master the container's output stream (a
// terminal has one), its stdin when it has one, and the target of resizes.
static void take_tty(struct crisp_log *log, struct crisp_attach *attach, int master)
{
	for (struct crisp_stream *s = &log->out; s; s = s == &log->out ? &log->err : NULL) {
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
	}
	log->out.fd = master;
	log->out.tty = 1;
	if (attach->listen_fd < 0)
		return;
	attach->tty = dup(master);
	if (attach->stdin_fd >= 0) {
		// The container was given a stdin: with a terminal, that is the
		// terminal, not the pipe its init replaced.
		close(attach->stdin_fd);
		attach->stdin_fd = dup(master);
		if (attach->stdin_fd >= 0)
			fcntl(attach->stdin_fd, F_SETFL, fcntl(attach->stdin_fd, F_GETFL) | O_NONBLOCK);
	}
}

static int follow(pid_t init, int statefd, struct oom_watch *oom, struct crisp_log *log, int stdin_fd, int stdin_once,
		  int ttysock)
{
	struct crisp_stream *streams[] = {&log->out, &log->err};
	static struct crisp_attach attach;
	long long deadline = -1;
	int status = 0, exited = 0, sfd;
	sigset_t mask;

	// Without the socket the container still runs and logs; only Attach
	// is refused.
	if (statefd < 0 || crisp_attach_init(&attach, statefd, stdin_fd, stdin_once) < 0) {
		if (stdin_fd >= 0)
			close(stdin_fd);
		attach.listen_fd = attach.stdin_fd = -1;
	} else {
		log->tee = crisp_attach_output, log->tee_arg = &attach;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		// No signalfd: write nothing more, but still record the exit.
		reap(init, 0, &status);
		record_exit(statefd, oom, status);
		return status;
	}
	// The init may have exited before the mask was set.
	if (reap(init, WNOHANG, &status)) {
		record_exit(statefd, oom, status);
		exited = 1, deadline = crisp_now_ms() + DRAIN_MS;
	}
	while (!exited || log->out.fd >= 0 || log->err.fd >= 0) {
		struct pollfd fds[5 + CRISP_ATTACH_CLIENTS + 2] = {
			{.fd = sfd, .events = POLLIN},
			{.fd = log->out.fd, .events = POLLIN},
			{.fd = log->err.fd, .events = POLLIN},
		};
		int nfds = 5, timeout = -1;
		fds[3] = (struct pollfd){.fd = ttysock, .events = POLLIN};
		fds[4] = (struct pollfd){.fd = oom->fd, .events = POLLPRI};
		if (attach.listen_fd >= 0)
			nfds += crisp_attach_pollfds(&attach, fds + 5);
		if (exited) {
			long long left = deadline - crisp_now_ms();
			if (left <= 0)
				break;
			timeout = (int)left;
		}
		if (poll(fds, nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR1)
				crisp_log_open(log); // on failure keep writing the old file
			if (!exited && reap(init, WNOHANG, &status)) {
				record_exit(statefd, oom, status);
				exited = 1, deadline = crisp_now_ms() + DRAIN_MS;
				crisp_attach_close_stdin(&attach);
			} else if (exited) {
				reap(init, WNOHANG, &status); // orphans reparented to us
			}
		}
		for (int i = 0; i < 2; i++) {
			if (streams[i]->fd < 0 || !fds[i + 1].revents)
				continue;
			if (!crisp_log_read(log, streams[i])) {
				close(streams[i]->fd);
				streams[i]->fd = -1;
			}
		}
		if (fds[4].revents)
			oom_update(oom);
		if (ttysock >= 0 && fds[3].revents) {
			int master = receive_tty(ttysock);
			close(ttysock);
			ttysock = -1;
			if (master >= 0)
				take_tty(log, &attach, master);
		}
		if (attach.listen_fd >= 0)
			crisp_attach_handle(&attach, fds + 5, nfds - 5);
	}
	for (int i = 0; i < 2; i++)
		crisp_log_flush(log, streams[i]);
	return status;
}

// wait_init runs the monitor of a container without a log: it waits for the
// init, following the OOM watch meanwhile, and records the exit. It returns
// 1 and sets *status once the init exited.
static int wait_init(pid_t init, int statefd, struct oom_watch *oom, int *status)
{
	int exited = 0, sfd = -1;
	sigset_t mask;

	// Setup failed before the init existed: reap what is left and leave.
	if (init <= 0) {
		reap(init, 0, status);
		return 0;
	}
	if (oom->fd >= 0) {
		sigemptyset(&mask);
		sigaddset(&mask, SIGCHLD);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	}
	// The init may have exited before the mask was set: reap first.
	while (sfd >= 0 && oom->fd >= 0 && !(exited = reap(init, WNOHANG, status))) {
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = oom->fd, .events = POLLPRI}};
		struct signalfd_siginfo si;
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((fds[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) < 0)
			break;
		if (fds[1].revents)
			oom_update(oom);
	}
	if (sfd >= 0)
		close(sfd);
	// Without a watch, block until the init exits.
	if (!exited)
		exited = reap(init, 0, status);
	if (exited)
		record_exit(statefd, oom, *status);
	return exited;
}

// restored_init waits for the CRIU of a restore, which made the restored
// processes the monitor's children (they are its siblings), and returns the
// restored init: the pid the caller recorded in <state>/restored.pid
// while CRIU waited on its post-restore notification. A failed restore
// returns 0 and kills what CRIU may have left in the container's cgroup.
static pid_t restored_init(pid_t criu, int statefd, int cgroupfd)
{
	char buf[32];
	ssize_t n = -1;
	long pid = 0;
	pid_t w;
	int st = 0, fd;

	do
		w = waitpid(criu, &st, 0);
	while (w < 0 && errno == EINTR);
	if (w == criu && WIFEXITED(st) && WEXITSTATUS(st) == 0 && statefd >= 0) {
		fd = openat(statefd, "restored.pid", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
		}
		if (n > 0) {
			buf[n] = 0;
			pid = strtol(buf, NULL, 10);
		}
	}
	if (pid > 0 && pid <= 0x3fffffff)
		return (pid_t)pid;
	if (cgroupfd >= 0) {
		fd = openat(cgroupfd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0) {
				// Nothing more to do: the reap below waits.
			}
			close(fd);
		}
	}
	return 0;
}

void crisp_monitor(int pidpipe, int statefd, int cgroupfd, struct crisp_log *log, int stdin_fd, int stdin_once,
		   int ttysock, pid_t restorer)
{
	struct oom_watch oom;
	int signals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
	pid_t init = 0;
	int status = 0;

	prctl(PR_SET_NAME, "crisp-monitor", 0, 0, 0);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], SIG_IGN);
	{
		// Nothing the caller passed is the monitor's to hold open.
		int keep[] = {pidpipe, statefd < 0 ? pidpipe : statefd, log ? log->fd : pidpipe,
			      log ? log->out.fd : pidpipe, log ? log->err.fd : pidpipe,
			      stdin_fd < 0 ? pidpipe : stdin_fd, ttysock < 0 ? pidpipe : ttysock,
			      cgroupfd < 0 ? pidpipe : cgroupfd, log ? log->dirfd : pidpipe, -1};
		crisp_detach_fds(keep);
	}
	if (restorer > 0)
		init = restored_init(restorer, statefd, cgroupfd);
	// The count before the container's process runs; only a container's
	// monitor, which has a state directory, records it.
	if (statefd < 0 && cgroupfd >= 0) {
		close(cgroupfd);
		cgroupfd = -1;
	}
	oom_open(&oom, cgroupfd);
	if (restorer <= 0 && read(pidpipe, &init, sizeof(init)) != sizeof(init))
		init = 0; // setup failed before init existed: reap and leave
	close(pidpipe);
	if (init > 0 && log)
		status = follow(init, statefd, &oom, log, stdin_fd, stdin_once, ttysock);
	else
		wait_init(init, statefd, &oom, &status);
	if (init <= 0)
		_exit(255);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(128 + WTERMSIG(status));
}
