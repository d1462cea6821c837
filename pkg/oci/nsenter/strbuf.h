// A bounded string builder for the messages the C stage assembles. See
// strbuf.c.
#ifndef CRISP_STRBUF_H
#define CRISP_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

// crisp_strbuf builds a NUL-terminated string in buf, which holds cap
// bytes. len never reaches cap: what does not fit is cut off and truncated
// is set, so that no append can write past buf whatever it is given.
struct crisp_strbuf {
	char *buf;
	size_t cap;
	size_t len;
	int truncated;
};

// crisp_strbuf_init starts an empty string in buf of cap bytes (cap > 0).
void crisp_strbuf_init(struct crisp_strbuf *b, char *buf, size_t cap);
// crisp_strbuf_printf appends the formatted text, as much as fits.
void crisp_strbuf_printf(struct crisp_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void crisp_strbuf_vprintf(struct crisp_strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
// crisp_strbuf_append appends n bytes of s, as many as fit.
void crisp_strbuf_append(struct crisp_strbuf *b, const char *s, size_t n);
// crisp_strbuf_append_max appends the string s, cut to at most max bytes
// and then ending in "...", so that one long part leaves room for the
// rest of a message.
void crisp_strbuf_append_max(struct crisp_strbuf *b, const char *s, size_t max);
// crisp_strbuf_mark_truncated ends a truncated string in "...", so that a
// reader sees it was cut.
void crisp_strbuf_mark_truncated(struct crisp_strbuf *b);

#endif
