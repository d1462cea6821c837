// The container init: it reads the program its parent compiled from the
// spec and carries it out, then executes the container's process. It runs
// in C so that a container never starts the Go runtime (see doc.go).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

// A program larger than this is a bug in the parent, not a container.
#define MAX_PROGRAM (64u << 20)

// The context of errors in the program itself rather than in an operation.
const struct crisp_op crisp_program_op = {.what = "program", .field = ""};

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void read_full(int fd, void *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1); // the parent is gone: nobody to report to
		buf = (char *)buf + r;
		n -= r;
	}
}

const char *crisp_arg(struct crisp_init *in, const struct crisp_op *op, uint32_t i)
{
	if (i + 2 >= op->argc)
		crisp_op_fail(in, op, 0, "program: operation %u has no argument %u", op->code, i);
	return op->argv[i + 2];
}

long long crisp_arg_int(struct crisp_init *in, const struct crisp_op *op, uint32_t i)
{
	const char *s = crisp_arg(in, op, i);
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		crisp_op_fail(in, op, 0, "program: operation %u: \"%s\" is not a number", op->code, s);
	return v;
}

unsigned long long crisp_arg_uint(struct crisp_init *in, const struct crisp_op *op, uint32_t i)
{
	const char *s = crisp_arg(in, op, i);
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		crisp_op_fail(in, op, 0, "program: operation %u: \"%s\" is not a number", op->code, s);
	return v;
}

// decode splits the next operation off buf; it returns the bytes used.
static size_t decode(struct crisp_init *in, unsigned char *buf, size_t n, struct crisp_op *op)
{
	const struct crisp_op *bad = &crisp_program_op;
	size_t off = 8;
	if (n < 8)
		crisp_op_fail(in, bad, 0, "truncated operation");
	op->code = le32(buf);
	op->argc = le32(buf + 4);
	if (op->argc < 2 || op->argc > n / 4)
		crisp_op_fail(in, bad, 0, "operation %u has %u arguments", op->code, op->argc);
	op->argv = calloc(op->argc + 1, sizeof(char *));
	op->len = calloc(op->argc, sizeof(uint32_t));
	if (!op->argv || !op->len)
		crisp_op_fail(in, bad, ENOMEM, "decode");
	for (uint32_t i = 0; i < op->argc; i++) {
		uint32_t l;
		if (n - off < 4)
			crisp_op_fail(in, bad, 0, "truncated operation %u", op->code);
		l = le32(buf + off);
		off += 4;
		// Each argument is followed by a NUL the parent adds.
		if (n - off < (size_t)l + 1 || buf[off + l] != 0)
			crisp_op_fail(in, bad, 0, "truncated operation %u", op->code);
		op->argv[i] = (char *)buf + off;
		op->len[i] = l;
		off += l + 1;
	}
	op->what = op->argv[0];
	op->field = op->argv[1];
	return off;
}

static void run_op(struct crisp_init *in, const struct crisp_op *op)
{
	switch (op->code) {
	case CRISP_OP_HOOKS_SYNC:
		crisp_send("hooks", getpid(), NULL, NULL);
		crisp_await_ack(in->syncfd);
		break;
	case CRISP_OP_HOOK:
		crisp_run_hook(in, op);
		break;
	case CRISP_OP_MOUNT:
	case CRISP_OP_OPEN_ROOT:
	case CRISP_OP_MOUNT_IN_ROOT:
	case CRISP_OP_BIND_IN_ROOT:
	case CRISP_OP_REMOUNT_IN_ROOT:
	case CRISP_OP_PROPAGATE_IN_ROOT:
	case CRISP_OP_MKNOD_IN_ROOT:
	case CRISP_OP_BIND_DEVICE:
	case CRISP_OP_SYMLINK_IN_ROOT:
	case CRISP_OP_PIVOT_ROOT:
	case CRISP_OP_MASK_PATH:
	case CRISP_OP_READONLY_PATH:
	case CRISP_OP_REMOUNT:
		crisp_rootfs_op(in, op);
		break;
	default:
		crisp_process_op(in, op);
	}
}

void crisp_run_init(int syncfd)
{
	struct crisp_init in = {.syncfd = syncfd, .rootfd = -1, .fifofd = -1};
	unsigned char hdr[4], *prog;
	size_t n, off = 0;

	fcntl(syncfd, F_SETFD, FD_CLOEXEC);
	read_full(syncfd, hdr, sizeof(hdr));
	n = le32(hdr);
	if (n > MAX_PROGRAM)
		crisp_op_fail(&in, &crisp_program_op, 0, "%zu bytes is too large", n);
	prog = malloc(n ? n : 1);
	if (!prog)
		_exit(1);
	read_full(syncfd, prog, n);
	while (off < n) {
		struct crisp_op op;
		off += decode(&in, prog + off, n - off, &op);
		run_op(&in, &op);
		free(op.argv);
		free(op.len);
	}
	crisp_op_fail(&in, &crisp_program_op, 0, "ended without executing the process");
}
