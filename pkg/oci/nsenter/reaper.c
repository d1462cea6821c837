// The pod reaper: PID 1 of a pod's shared PID namespace. It holds the
// namespace and reaps the orphans that containers leave behind, in C, so
// that a pod pays a few pages of memory for it instead of a Go runtime.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

void crisp_reaper(void)
{
	sigset_t set;

	if (getpid() != 1) {
		fprintf(stderr, "crisp: the pod reaper must run as PID 1 of a new PID namespace\n");
		_exit(1);
	}
	prctl(PR_SET_NAME, "crisp-reaper", 0, 0, 0);
	{
		int keep[] = {-1};
		crisp_detach_fds(keep);
	}
	// As PID 1 of its namespace it gets no signal it has no handler for
	// from inside; SIGTERM and SIGINT from crisp end it, SIGKILL always.
	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig < 0)
			continue; // EINTR
		if (sig != SIGCHLD)
			_exit(0);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
