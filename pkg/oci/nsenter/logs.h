// The container's log, written by its monitor. See logs.c.
#ifndef CRISP_LOGS_H
#define CRISP_LOGS_H

#include <stddef.h>

// The longest line written whole, as containerd's default
// max_container_log_line_size; longer lines are split into P pieces.
#define CRISP_LOG_LINE_MAX (16 * 1024)

// A stream of the container: the read end of its stdout or stderr pipe and
// the start of a line not yet ended.
struct crisp_stream {
	int fd; // -1 once it ended
	const char *name;
	char buf[CRISP_LOG_LINE_MAX];
	size_t len;
	// tty drops the carriage return a terminal ends each line with.
	int tty;
};

struct crisp_log {
	// The log is name in the directory dirfd: the directory was resolved
	// once, safely, by the caller, so swapping one of its parents for a
	// symlink later cannot move the log elsewhere.
	int dirfd;
	char name[256];
	int fd;
	struct crisp_stream out, err;
	// tee, when set, gets every chunk read from a stream (1 for stdout,
	// 2 for stderr) before it is logged.
	void (*tee)(void *arg, int stream, const char *data, size_t n);
	void *tee_arg;
};

// crisp_log_open opens (or, after the kubelet rotated it, reopens)
// log->name in log->dirfd for appending. It returns -1 with errno set on failure.
int crisp_log_open(struct crisp_log *log);
// crisp_log_read reads what the stream has and writes its complete lines.
// It returns 0 when the stream ended.
int crisp_log_read(struct crisp_log *log, struct crisp_stream *s);
// crisp_log_flush writes the unended rest of a stream as a piece of a
// line (P): nothing ended it.
void crisp_log_flush(struct crisp_log *log, struct crisp_stream *s);

#endif
