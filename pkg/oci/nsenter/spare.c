// A spare: crisp executed ahead of use by a runtime that creates many
// containers, so that a launch does not wait for the fork and exec of the
// crisp binary. It detaches at once, as a launch's monitor does (double
// fork, setsid), and sends the runtime its pid. Then it blocks until the
// runtime hands it one launch: the
// descriptors the launch's process would have found from 3 up, passed with
// SCM_RIGHTS, and its environment as NAME=VALUE strings, each ended by a
// NUL. It puts them in place and returns, and the constructor goes on as
// for a process executed for that launch. A runtime that closes its end
// instead ends the spare.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init.h"

static __attribute__((noreturn)) void spare_fail(const char *what)
{
	fprintf(stderr, "crisp spare: %s: %s\n", what, strerror(errno));
	_exit(1);
}

// spare_env_fd returns the descriptor named by the environment variable
// name, or -1, and removes the variable.
static int spare_env_fd(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long fd;

	if (!v)
		return -1;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || end == v || *end || fd < 0 || fd > 1024) {
		errno = EINVAL;
		spare_fail(name);
	}
	unsetenv(name);
	return (int)fd;
}

void crisp_spare_wait(void)
{
	static char env[CRISP_SPARE_MAX_ENV + 1];
	union {
		char buf[CMSG_SPACE(CRISP_SPARE_MAX_FILES * sizeof(int))];
		struct cmsghdr align;
	} control;
	int fds[CRISP_SPARE_MAX_FILES], moved[CRISP_SPARE_MAX_FILES];
	size_t nfds = 0;
	struct iovec iov = {.iov_base = env, .iov_len = CRISP_SPARE_MAX_ENV};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *cmsg;
	int sock = spare_env_fd("_CRISP_SPARE");
	int exe = spare_env_fd("_CRISP_SPARE_EXE");
	ssize_t n;
	char ready[24];
	int len;
	pid_t child;

	prctl(PR_SET_NAME, "crisp-spare", 0, 0, 0);
	if (exe >= 0)
		close(exe);
	// Detached now rather than when a launch comes: the launch then forks
	// nothing before its monitor reports.
	child = fork();
	if (child < 0)
		spare_fail("fork");
	if (child > 0)
		_exit(0);
	setsid();
	len = snprintf(ready, sizeof(ready), "%d", (int)getpid());
	if (len <= 0 || (size_t)len >= sizeof(ready) || send(sock, ready, (size_t)len, MSG_NOSIGNAL) != len)
		spare_fail("report ready");
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(0); // the runtime closed without a launch
	if (n < 0)
		spare_fail("receive launch");
	close(sock);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		errno = EMSGSIZE;
		spare_fail("receive launch");
	}
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t k;
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > CRISP_SPARE_MAX_FILES - nfds) {
			errno = EMSGSIZE;
			spare_fail("receive launch descriptors");
		}
		memcpy(fds + nfds, CMSG_DATA(cmsg), k * sizeof(int));
		nfds += k;
	}
	// Above every target first, so that putting one in place never closes
	// another that is still to be moved.
	for (size_t i = 0; i < nfds; i++) {
		moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + (int)nfds);
		if (moved[i] < 0)
			spare_fail("move launch descriptor");
		close(fds[i]);
	}
	// At 3 and up, inherited across exec, as a process executed for the
	// launch has them.
	for (size_t i = 0; i < nfds; i++) {
		if (dup2(moved[i], 3 + (int)i) < 0)
			spare_fail("place launch descriptor");
		close(moved[i]);
	}
	env[n] = '\0';
	for (char *p = env, *next; p < env + n; p = next) {
		char *eq = strchr(p, '=');
		next = p + strlen(p) + 1;
		if (!eq || eq == p) {
			errno = EINVAL;
			spare_fail("launch environment");
		}
		*eq = '\0';
		if (setenv(p, eq + 1, 1) < 0)
			spare_fail("launch environment");
	}
	// Detached already.
	unsetenv("_CRISP_INIT_DETACH");
}
