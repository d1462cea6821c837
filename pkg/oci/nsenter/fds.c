// Descriptor hygiene: a container's process, its hooks and its monitor keep
// only the descriptors meant for them, never what crisp's caller left open.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

// each_fd_from calls fn on every open descriptor >= low, from /proc/self/fd
// when it is there, else on every number below the descriptor limit.
static void each_fd_from(int low, void (*fn)(int))
{
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		int self = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			int fd = atoi(e->d_name);
			if (e->d_name[0] != '.' && fd >= low && fd != self)
				fn(fd);
		}
		closedir(d);
		return;
	}
	for (long fd = low, max = sysconf(_SC_OPEN_MAX); fd < max && fd < (1 << 20); fd++)
		fn(fd);
}

static void set_cloexec(int fd)
{
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void crisp_cloexec_from(int low)
{
	if (syscall(SYS_close_range, (unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	each_fd_from(low, set_cloexec);
}

// keep lists the descriptors crisp_detach_fds leaves open; -1 ends it.
static const int *keep;

static void close_unkept(int fd)
{
	for (const int *k = keep; *k >= 0; k++)
		if (*k == fd)
			return;
	close(fd);
}

void crisp_detach_fds(const int *fds)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		close(null);
	}
	keep = fds;
	each_fd_from(3, close_unkept);
}
