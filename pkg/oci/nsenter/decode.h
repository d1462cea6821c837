// The decoder of the init's program (see init.h and pkg/oci/program.go
// for the encoding). It is header-only, with no side effect but its
// allocations, so that a fuzz harness can compile the very same code.
#ifndef CRISP_DECODE_H
#define CRISP_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "init.h"

// Results of crisp_decode.
enum {
	CRISP_DECODE_OK = 0,
	CRISP_DECODE_TRUNCATED = 1, // the operation does not fit what is left
	CRISP_DECODE_ARGC = 2,	    // fewer than two arguments
	CRISP_DECODE_NOMEM = 3,
};

static inline uint32_t crisp_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// crisp_decode splits the next operation off the n bytes at buf. On
// success it sets *used to the bytes the operation took and op to it: its
// arguments point into buf, op->argv (NULL-terminated) and op->len are
// allocated, for crisp_op_free. Otherwise op holds no allocation and, as
// far as they were read, its code and argument count, for the error.
//
// Every length is checked against what is left before it is used: no
// input makes it read outside buf.
static inline int crisp_decode(unsigned char *buf, size_t n, struct crisp_op *op, size_t *used)
{
	size_t off = 8;

	op->code = op->argc = 0;
	op->argv = NULL;
	op->len = NULL;
	op->what = op->field = NULL;
	if (n < 8)
		return CRISP_DECODE_TRUNCATED;
	op->code = crisp_le32(buf);
	op->argc = crisp_le32(buf + 4);
	if (op->argc < 2)
		return CRISP_DECODE_ARGC;
	// Each argument takes at least its length and its NUL: 5 bytes. The
	// bound also keeps the allocations below to the program's size.
	if (op->argc > (n - 8) / 5)
		return CRISP_DECODE_TRUNCATED;
	op->argv = calloc((size_t)op->argc + 1, sizeof(char *));
	op->len = calloc(op->argc, sizeof(uint32_t));
	if (!op->argv || !op->len)
		goto fail_nomem;
	for (uint32_t i = 0; i < op->argc; i++) {
		uint32_t l;
		if (n - off < 4)
			goto fail_truncated;
		l = crisp_le32(buf + off);
		off += 4;
		// Each argument is followed by a NUL the parent adds.
		if (n - off < (size_t)l + 1 || buf[off + l] != 0)
			goto fail_truncated;
		op->argv[i] = (char *)buf + off;
		op->len[i] = l;
		off += (size_t)l + 1;
	}
	op->what = op->argv[0];
	op->field = op->argv[1];
	*used = off;
	return CRISP_DECODE_OK;

fail_truncated:
	free(op->argv);
	free(op->len);
	op->argv = NULL;
	op->len = NULL;
	return CRISP_DECODE_TRUNCATED;
fail_nomem:
	free(op->argv);
	free(op->len);
	op->argv = NULL;
	op->len = NULL;
	return CRISP_DECODE_NOMEM;
}

// crisp_op_free releases what crisp_decode allocated.
static inline void crisp_op_free(struct crisp_op *op)
{
	free(op->argv);
	free(op->len);
	op->argv = NULL;
	op->len = NULL;
}

#endif
