// The container init: it reads the program its parent compiled from the
// spec and carries it out, then executes the container's process. It runs
// in C so that a container never starts the Go runtime (see doc.go).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode.h"
#include "init.h"

// A program larger than this is a bug in the parent, not a container.
#define MAX_PROGRAM (64u << 20)

// The context of errors in the program itself rather than in an operation.
const struct crisp_op crisp_program_op = {.what = "program", .field = ""};

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

const char *crisp_arg_bytes(struct crisp_init *in, const struct crisp_op *op, uint32_t i, uint32_t *len)
{
	if (op->argc < 2 || i >= op->argc - 2)
		crisp_op_fail(in, op, 0, "program: operation %u has no argument %u", op->code, i);
	*len = op->len[i + 2];
	return op->argv[i + 2];
}

// A string with a NUL byte would be read as a shorter one than the parent
// checked: it is refused.
static void check_string(struct crisp_init *in, const struct crisp_op *op, uint32_t i)
{
	if (strlen(op->argv[i]) != op->len[i])
		crisp_op_fail(in, op, EINVAL, "argument %u has a NUL byte", i >= 2 ? i - 2 : i);
}

const char *crisp_arg(struct crisp_init *in, const struct crisp_op *op, uint32_t i)
{
	uint32_t len;
	const char *s = crisp_arg_bytes(in, op, i, &len);
	check_string(in, op, i + 2);
	return s;
}

void crisp_args_strings(struct crisp_init *in, const struct crisp_op *op, uint32_t from)
{
	for (uint32_t i = from + 2; i < op->argc; i++)
		check_string(in, op, i);
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
// A malformed program ends the init.
static size_t decode(struct crisp_init *in, unsigned char *buf, size_t n, struct crisp_op *op)
{
	const struct crisp_op *bad = &crisp_program_op;
	size_t used = 0;

	switch (crisp_decode(buf, n, op, &used)) {
	case CRISP_DECODE_OK:
		return used;
	case CRISP_DECODE_ARGC:
		crisp_op_fail(in, bad, 0, "operation %u has %u arguments", op->code, op->argc);
	case CRISP_DECODE_NOMEM:
		crisp_op_fail(in, bad, ENOMEM, "decode");
	default:
		if (n < 8)
			crisp_op_fail(in, bad, 0, "truncated operation");
		crisp_op_fail(in, bad, 0, "truncated operation %u", op->code);
	}
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
	case CRISP_OP_SETATTR_IN_ROOT:
	case CRISP_OP_MKNOD_IN_ROOT:
	case CRISP_OP_BIND_DEVICE:
	case CRISP_OP_SYMLINK_IN_ROOT:
	case CRISP_OP_PIVOT_ROOT:
	case CRISP_OP_SHARED_ROOT:
	case CRISP_OP_DETACH_ROOT:
	case CRISP_OP_ATTACH_ROOT:
	case CRISP_OP_ATTACH_IN_ROOT:
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
	n = crisp_le32(hdr);
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
		crisp_op_free(&op);
	}
	crisp_op_fail(&in, &crisp_program_op, 0, "ended without executing the process");
}
