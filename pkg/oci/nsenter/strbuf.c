// A bounded string builder: every message the C stage assembles (errors,
// sync messages, paths) goes through it, so that no input, however long,
// writes past its buffer.
#include <stdio.h>
#include <string.h>

#include "strbuf.h"

void crisp_strbuf_init(struct crisp_strbuf *b, char *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->truncated = 0;
	if (cap > 0)
		buf[0] = 0;
}

// room is what can still be appended, the NUL aside.
static size_t room(const struct crisp_strbuf *b)
{
	return b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
}

void crisp_strbuf_vprintf(struct crisp_strbuf *b, const char *fmt, va_list ap)
{
	int n;

	if (b->cap == 0) {
		b->truncated = 1;
		return;
	}
	n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	if (n < 0) {
		// An encoding error: keep what was there.
		b->buf[b->len] = 0;
		b->truncated = 1;
		return;
	}
	if ((size_t)n > room(b)) {
		b->len = b->cap - 1;
		b->truncated = 1;
		return;
	}
	b->len += (size_t)n;
}

void crisp_strbuf_printf(struct crisp_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	crisp_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void crisp_strbuf_append(struct crisp_strbuf *b, const char *s, size_t n)
{
	size_t r = room(b);

	if (n > r) {
		n = r;
		b->truncated = 1;
	}
	if (b->cap == 0)
		return;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = 0;
}

void crisp_strbuf_append_max(struct crisp_strbuf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max) {
		crisp_strbuf_append(b, s, n);
		return;
	}
	crisp_strbuf_append(b, s, max > 3 ? max - 3 : 0);
	crisp_strbuf_append(b, "...", 3);
}

void crisp_strbuf_mark_truncated(struct crisp_strbuf *b)
{
	if (!b->truncated || b->cap < 4)
		return;
	// Three dots replace the string's last bytes when there is no room.
	if (room(b) < 3)
		b->len = b->cap - 4;
	memcpy(b->buf + b->len, "...", 4);
	b->len += 3;
}
