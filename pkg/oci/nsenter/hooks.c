// The hooks that run inside the container's namespaces: createContainer
// and startContainer. Each gets the container's state on stdin and has a
// timeout; its output becomes part of the error when it fails.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "strbuf.h"

// After the hook exits, its output is read for at most this long: a
// process it left behind may hold the pipe open.
#define OUTPUT_GRACE_MS 1000
// MAX_TIMEOUT_S saturates a hook's timeout, which Go has checked already,
// so that its product in milliseconds cannot overflow.
#define MAX_TIMEOUT_S (24LL * 60 * 60)

__attribute__((noreturn)) static void hook_child(const struct crisp_op *op, int in, int out, uint32_t argc)
{
	const char *path = op->argv[2];
	char **argv, **envp;
	uint32_t nenv = op->argc - 6 - argc;

	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	crisp_cloexec_from(3);
	signal(SIGPIPE, SIG_DFL);
	argv = calloc(argc + 2, sizeof(char *));
	envp = calloc(nenv + 1, sizeof(char *));
	if (!argv || !envp)
		_exit(127);
	if (argc == 0)
		argv[0] = (char *)path;
	else
		memcpy(argv, op->argv + 6, argc * sizeof(char *));
	memcpy(envp, op->argv + 6 + argc, nenv * sizeof(char *));
	execve(path, argv, envp);
	dprintf(2, "exec %s: %s", path, strerror(errno));
	_exit(127);
}

void crisp_run_hook(struct crisp_init *in, const struct crisp_op *op)
{
	uint32_t statelen, argc, written = 0;
	const char *state = crisp_arg_bytes(in, op, 2, &statelen);
	long long timeout = crisp_arg_int(in, op, 1), deadline, exited_at = -1;
	// Compared before it is narrowed, so that it cannot wrap around.
	unsigned long long n = crisp_arg_uint(in, op, 3);
	int inpipe[2], outpipe[2], pidfd, status, done = 0;
	char out[2048];
	struct crisp_strbuf o;
	pid_t pid;

	if (n > op->argc - 6)
		crisp_op_fail(in, op, EINVAL, "%llu arguments", n);
	argc = (uint32_t)n;
	crisp_arg(in, op, 0);
	crisp_args_strings(in, op, 4);
	// The hook's output, as much as fits, ends its error.
	crisp_strbuf_init(&o, out, sizeof(out));
	if (pipe2(inpipe, O_CLOEXEC) < 0 || pipe2(outpipe, O_CLOEXEC) < 0)
		crisp_op_fail(in, op, errno, "pipe");
	pid = fork();
	if (pid < 0)
		crisp_op_fail(in, op, errno, "fork");
	if (pid == 0)
		hook_child(op, inpipe[0], outpipe[1], argc);
	close(inpipe[0]);
	close(outpipe[1]);
	fcntl(inpipe[1], F_SETFL, O_NONBLOCK);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		crisp_op_fail(in, op, errno, "pidfd_open");
	if (timeout < 0)
		timeout = 0;
	if (timeout > MAX_TIMEOUT_S)
		timeout = MAX_TIMEOUT_S;
	deadline = crisp_now_ms() + timeout * 1000;
	while (!done) {
		struct pollfd fds[3] = {
			{.fd = exited_at < 0 ? pidfd : -1, .events = POLLIN},
			{.fd = outpipe[0], .events = POLLIN},
			{.fd = written < statelen ? inpipe[1] : -1, .events = POLLOUT},
		};
		long long now = crisp_now_ms(), wait = deadline - now;
		if (exited_at >= 0 && exited_at + OUTPUT_GRACE_MS - now < wait)
			wait = exited_at + OUTPUT_GRACE_MS - now;
		if (wait <= 0) {
			if (exited_at >= 0)
				break;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			crisp_op_fail(in, op, 0, "timed out after %llds", timeout);
		}
		if (poll(fds, 3, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			crisp_op_fail(in, op, errno, "poll");
		}
		if (fds[0].revents && exited_at < 0)
			exited_at = crisp_now_ms();
		if (fds[1].revents) {
			char buf[512];
			ssize_t n = read(outpipe[0], buf, sizeof(buf));
			if (n <= 0) { // the end, or an error: stop reading
				close(outpipe[0]);
				outpipe[0] = -1;
			}
			if (n > 0)
				crisp_strbuf_append(&o, buf, (size_t)n);
		}
		if (outpipe[0] < 0 && exited_at >= 0)
			done = 1;
		if (fds[2].revents) {
			ssize_t n = write(inpipe[1], state + written, statelen - written);
			// A hook that does not read its stdin is not an error.
			if (n < 0 && errno != EAGAIN)
				written = statelen;
			else if (n > 0)
				written += n;
		}
		if (written >= statelen && inpipe[1] >= 0) {
			close(inpipe[1]);
			inpipe[1] = -1;
		}
	}
	if (inpipe[1] >= 0)
		close(inpipe[1]);
	if (outpipe[0] >= 0)
		close(outpipe[0]);
	close(pidfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (o.len > 0 && (out[o.len - 1] == '\n' || out[o.len - 1] == ' '))
		out[--o.len] = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFEXITED(status))
		crisp_op_fail(in, op, 0, "exit status %d%s%s", WEXITSTATUS(status), o.len ? ": " : "", out);
	crisp_op_fail(in, op, 0, "signal: %s%s%s", strsignal(WTERMSIG(status)), o.len ? ": " : "", out);
}
