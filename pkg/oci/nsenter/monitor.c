// The container's monitor: the process that stays behind when crisp starts
// a container. It waits for the init, records how it ended and, when the
// container has a log, writes the container's output to it. It never enters
// the Go runtime, so it costs a few pages of memory per container.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

// record_exit stores the raw wait status as <state>/exit, atomically.
static void record_exit(int statefd, int status)
{
	char buf[32];
	struct crisp_strbuf b;
	int fd;
	if (statefd < 0)
		return;
	fd = openat(statefd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	crisp_strbuf_init(&b, buf, sizeof(buf));
	crisp_strbuf_printf(&b, "%d\n", status);
	if (write(fd, buf, b.len) != (ssize_t)b.len) {
		close(fd);
		return;
	}
	close(fd);
	renameat(statefd, "exit.tmp", statefd, "exit");
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

static int follow(pid_t init, int statefd, struct crisp_log *log, int stdin_fd, int stdin_once, int ttysock)
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
		record_exit(statefd, status);
		return status;
	}
	// The init may have exited before the mask was set.
	if (reap(init, WNOHANG, &status)) {
		record_exit(statefd, status);
		exited = 1, deadline = crisp_now_ms() + DRAIN_MS;
	}
	while (!exited || log->out.fd >= 0 || log->err.fd >= 0) {
		struct pollfd fds[4 + CRISP_ATTACH_CLIENTS + 2] = {
			{.fd = sfd, .events = POLLIN},
			{.fd = log->out.fd, .events = POLLIN},
			{.fd = log->err.fd, .events = POLLIN},
		};
		int nfds = 4, timeout = -1;
		fds[3] = (struct pollfd){.fd = ttysock, .events = POLLIN};
		if (attach.listen_fd >= 0)
			nfds += crisp_attach_pollfds(&attach, fds + 4);
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
				record_exit(statefd, status);
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
		if (ttysock >= 0 && fds[3].revents) {
			int master = receive_tty(ttysock);
			close(ttysock);
			ttysock = -1;
			if (master >= 0)
				take_tty(log, &attach, master);
		}
		if (attach.listen_fd >= 0)
			crisp_attach_handle(&attach, fds + 4, nfds - 4);
	}
	for (int i = 0; i < 2; i++)
		crisp_log_flush(log, streams[i]);
	return status;
}

void crisp_monitor(int pidpipe, int statefd, struct crisp_log *log, int stdin_fd, int stdin_once, int ttysock)
{
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
			      stdin_fd < 0 ? pidpipe : stdin_fd, ttysock < 0 ? pidpipe : ttysock, -1};
		crisp_detach_fds(keep);
	}
	if (read(pidpipe, &init, sizeof(init)) != sizeof(init))
		init = 0; // setup failed before init existed: reap and leave
	close(pidpipe);
	if (init > 0 && log) {
		status = follow(init, statefd, log, stdin_fd, stdin_once, ttysock);
	} else if (reap(init, 0, &status)) {
		record_exit(statefd, status);
	}
	if (init <= 0)
		_exit(255);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(128 + WTERMSIG(status));
}
