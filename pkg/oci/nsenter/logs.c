// The container's log in the kubelet's CRI format, written by the monitor
// so that no line depends on crisp's daemon: one line per write,
//
//	2026-11-28T23:05:01.123456789Z stdout F a full line
//	2026-11-28T23:05:01.123456789Z stderr P the first 16 KiB of a longer one
//
// F ends a line. P is a piece of a line longer than CRISP_LOG_LINE_MAX, or
// the unended rest of a stream at its end: the reader (kubelet's) adds a
// newline after F only, so output that ended without one reads back as it
// was, as a termination message taken from the log must.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "logs.h"
#include "strbuf.h"

// crisp_log_open opens the log anew, relative to its directory's handle. A
// symlink in its place is not followed (it could lead anywhere on the host)
// and a FIFO without a reader fails rather than blocking the monitor.
int crisp_log_open(struct crisp_log *log)
{
	int fd = openat(log->dirfd, log->name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	if (fd < 0)
		return -1;
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	return 0;
}

// emit writes one log line with a single write, so that a reader never sees
// half of it.
static void emit(struct crisp_log *log, const struct crisp_stream *s, char tag, const char *data, size_t n)
{
	static char line[CRISP_LOG_LINE_MAX + 64];
	struct timespec now;
	struct tm tm;
	size_t len;
	struct crisp_strbuf b;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	crisp_strbuf_init(&b, line, sizeof(line));
	b.len = strftime(line, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	crisp_strbuf_printf(&b, ".%09ldZ %s %c ", now.tv_nsec, s->name, tag);
	len = b.len;
	memcpy(line + len, data, n);
	len += n;
	line[len++] = '\n';
	for (size_t off = 0; off < len;) {
		ssize_t w = write(log->fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; // a full disk loses the line, not the container
		off += w;
	}
}

int crisp_log_read(struct crisp_log *log, struct crisp_stream *s)
{
	ssize_t n;
	size_t start = 0;

	do
		n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 && errno == EAGAIN ? 1 : 0;
	if (log->tee)
		log->tee(log->tee_arg, s == &log->out ? 1 : 2, s->buf + s->len, n);
	s->len += n;
	for (size_t i = s->len - n; i < s->len; i++) {
		if (s->buf[i] != '\n')
			continue;
		emit(log, s, 'F', s->buf + start, i - start - (s->tty && i > start && s->buf[i - 1] == '\r'));
		start = i + 1;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	if (s->len == sizeof(s->buf)) {
		emit(log, s, 'P', s->buf, s->len);
		s->len = 0;
	}
	return 1;
}

void crisp_log_flush(struct crisp_log *log, struct crisp_stream *s)
{
	if (s->len > 0)
		emit(log, s, 'P', s->buf, s->len);
	s->len = 0;
}
