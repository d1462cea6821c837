// The container's root file system: mounts resolved inside the root,
// devices, the switch of root, masked and read-only paths.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init.h"
#include "strbuf.h"

// open_in_root opens an O_PATH handle of path resolved inside the root:
// the kernel keeps symlinks and ".." from leading outside it.
static int open_in_root(struct crisp_init *in, const char *path, int flags)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | flags,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	for (;;) {
		int fd = syscall(SYS_openat2, in->rootfd, path, &how, sizeof(how));
		// EAGAIN: a concurrent rename; openat2 asks to retry.
		if (fd < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return fd;
	}
}

// mkdir_all_in_root creates the missing directories of path (absolute and
// clean) inside the root and returns a handle of the last one. Each prefix
// is resolved from the root, so a symlink in the image cannot redirect the
// creation outside it.
static int mkdir_all_in_root(struct crisp_init *in, const char *path, mode_t mode)
{
	char prefix[4096];
	size_t n = strlen(path);
	int parent, fd;

	if (n >= sizeof(prefix)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	parent = fcntl(in->rootfd, F_DUPFD_CLOEXEC, 0);
	if (parent < 0)
		return -1;
	for (size_t i = 1; i <= n; i++) {
		if (i < n && path[i] != '/')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = 0;
		fd = open_in_root(in, prefix, O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			const char *name = strrchr(prefix, '/') + 1;
			if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
				int saved = errno;
				close(parent);
				errno = saved;
				return -1;
			}
			fd = open_in_root(in, prefix, O_DIRECTORY);
		}
		if (fd < 0) {
			int saved = errno;
			close(parent);
			errno = saved;
			return -1;
		}
		close(parent);
		parent = fd;
	}
	return parent;
}

// open_target resolves a mount destination inside the root, creating it as
// a directory or an empty file.
static int open_target(struct crisp_init *in, const char *dest, int dir)
{
	char parent_path[4096];
	const char *slash;
	int fd = open_in_root(in, dest, 0), parent;

	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (dir)
		return mkdir_all_in_root(in, dest, 0755);
	slash = strrchr(dest, '/');
	if (!slash || (size_t)(slash - dest) >= sizeof(parent_path)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(parent_path, dest, slash - dest);
	parent_path[slash - dest] = 0;
	parent = parent_path[0] ? mkdir_all_in_root(in, parent_path, 0755) : fcntl(in->rootfd, F_DUPFD_CLOEXEC, 0);
	if (parent < 0)
		return -1;
	fd = openat(parent, slash + 1, O_CREAT | O_EXCL | O_NOFOLLOW | O_RDONLY | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	close(parent);
	if (fd < 0 && errno != EEXIST)
		return -1;
	return open_in_root(in, dest, 0);
}

// fd_path names an open handle for mount(2), which follows the magic link.
static const char *fd_path(int fd, char buf[32])
{
	struct crisp_strbuf b;
	crisp_strbuf_init(&b, buf, 32);
	crisp_strbuf_printf(&b, "/proc/self/fd/%d", fd);
	return buf;
}

// locked_flags are the statfs flags a less privileged mount namespace may
// not clear.
static unsigned long locked_flags(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} m[] = {
		{ST_RDONLY, MS_RDONLY}, {ST_NOSUID, MS_NOSUID},	    {ST_NODEV, MS_NODEV},	{ST_NOEXEC, MS_NOEXEC},
		{ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	};
	struct statfs st;
	unsigned long f = 0;
	if (statfs(path, &st) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if ((unsigned long)st.f_flags & m[i].st)
			f |= m[i].ms;
	return f;
}

// remount applies flags to the bind mount at path, keeping the flags a user
// namespace locks on it.
static int remount(const char *path, unsigned long flags)
{
	flags = (flags & ~(unsigned long)(MS_REC | MS_REMOUNT)) | MS_BIND | MS_REMOUNT;
	if (mount("", path, NULL, flags, NULL) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	return mount("", path, NULL, flags | locked_flags(path), NULL);
}

// drop_option removes the options starting with prefix from data. It
// returns -1 when the options do not fit out: mounting a part of them would
// be mounting something else.
static int drop_option(const char *data, const char *prefix, char *out, size_t size)
{
	char copy[4096], *save = NULL;
	struct crisp_strbuf c, b;

	crisp_strbuf_init(&c, copy, sizeof(copy));
	crisp_strbuf_printf(&c, "%s", data);
	crisp_strbuf_init(&b, out, size);
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strncmp(o, prefix, strlen(prefix)))
			continue;
		crisp_strbuf_printf(&b, "%s%s", b.len ? "," : "", o);
	}
	return c.truncated || b.truncated ? -1 : 0;
}

static void mount_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *dest = crisp_arg(in, op, 0), *src = crisp_arg(in, op, 1), *type = crisp_arg(in, op, 2);
	unsigned long flags = crisp_arg_uint(in, op, 3);
	const char *data = crisp_arg(in, op, 4), *fallback = crisp_arg(in, op, 5);
	char buf[32], alt[4096];
	int target = open_target(in, dest, 1);

	if (target < 0)
		crisp_op_fail(in, op, errno, "mount target %s", dest);
	if (mount(src, fd_path(target, buf), type, flags, data) == 0) {
		close(target);
		return;
	}
	if (!strcmp(fallback, "sysfs") && errno == EPERM) {
		// sysfs needs a network namespace owned by the container's user
		// namespace; otherwise bind the host's, read-only.
		if (mount("/sys", buf, NULL, MS_BIND | MS_REC, NULL) < 0)
			crisp_op_fail(in, op, errno, "bind /sys");
		close(target);
		if ((target = open_in_root(in, dest, 0)) < 0 || remount(fd_path(target, buf), flags | MS_RDONLY) < 0)
			crisp_op_fail(in, op, errno, "remount");
		close(target);
		return;
	}
	if (!strcmp(fallback, "devpts") && errno == EINVAL && strstr(data, "gid=")) {
		// The tty group may be unmapped in a user namespace.
		if (drop_option(data, "gid=", alt, sizeof(alt)) < 0)
			crisp_op_fail(in, op, E2BIG, "mount options");
		if (mount(src, buf, type, flags, alt) == 0) {
			close(target);
			return;
		}
	}
	crisp_op_fail(in, op, errno, "mount");
}

// open_bind_source opens a bind mount's source once; the mount then names
// the handle, so what is mounted is what was opened. The daemon resolved the
// source's symlinks when it made the spec: a symlink in it now was swapped
// in since (a container sharing the host directory can do that), so none is
// followed and the mount fails instead.
static int open_bind_source(const char *src)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	for (;;) {
		int fd = syscall(SYS_openat2, AT_FDCWD, src, &how, sizeof(how));
		if (fd < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return fd;
	}
}

static void bind_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *dest = crisp_arg(in, op, 0), *src = crisp_arg(in, op, 1);
	int dir = crisp_arg_int(in, op, 2), rec = crisp_arg_int(in, op, 3);
	char buf[32], src_buf[32];
	int source = open_bind_source(src), target;

	if (source < 0 && errno == ELOOP)
		crisp_op_fail(in, op, errno, "bind source %s: a symlink replaced part of it", src);
	if (source < 0)
		crisp_op_fail(in, op, errno, "bind source %s", src);
	target = open_target(in, dest, dir);
	if (target < 0)
		crisp_op_fail(in, op, errno, "mount target %s", dest);
	if (mount(fd_path(source, src_buf), fd_path(target, buf), NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
		crisp_op_fail(in, op, errno, "bind %s", src);
	close(target);
	close(source);
}

// attach_in_root moves a detached mount tree the parent opened (a bind
// mount's source, idmapped if asked) onto dest: the init may not reach the
// source by path from its user namespace.
static void attach_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *dest = crisp_arg(in, op, 0);
	int fd = (int)crisp_arg_int(in, op, 1), dir = crisp_arg_int(in, op, 2);
	int target = open_target(in, dest, dir);

	if (target < 0)
		crisp_op_fail(in, op, errno, "mount target %s", dest);
	if (syscall(SYS_move_mount, fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		crisp_op_fail(in, op, errno, "move_mount onto %s", dest);
	close(target);
	close(fd);
}

// at_mount runs fn on the mount now at dest; a new handle sees the mount
// rather than the directory below it.
static void at_mount(struct crisp_init *in, const struct crisp_op *op, const char *dest, unsigned long flags,
		     int propagate)
{
	char buf[32];
	int fd = open_in_root(in, dest, 0), err;

	if (fd < 0)
		crisp_op_fail(in, op, errno, "open %s", dest);
	err = propagate ? mount("", fd_path(fd, buf), NULL, flags, NULL) : remount(fd_path(fd, buf), flags);
	if (err < 0)
		crisp_op_fail(in, op, errno, propagate ? "propagation" : "remount");
	close(fd);
}

// setattr_in_root changes the attributes of the mount at dest and of every
// mount below it (the recursive mount options, such as rro): a remount
// would change the top mount alone, leaving its submounts writable.
static void setattr_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *dest = crisp_arg(in, op, 0);
	struct mount_attr attr = {
		.attr_set = crisp_arg_uint(in, op, 1),
		.attr_clr = crisp_arg_uint(in, op, 2),
	};
	int fd = open_in_root(in, dest, 0);

	if (fd < 0)
		crisp_op_fail(in, op, errno, "open %s", dest);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		crisp_op_fail(in, op, errno, "mount_setattr");
	close(fd);
}

// split_path splits path into its directory (written to dir, "/" for a
// top-level name) and returns its last component.
static const char *split_path(struct crisp_init *in, const struct crisp_op *op, const char *path, char dir[4096])
{
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= 4096)
		crisp_op_fail(in, op, EINVAL, "path %s", path);
	memcpy(dir, path, slash - path);
	dir[slash - path] = 0;
	if (!dir[0])
		memcpy(dir, "/", 2);
	return slash + 1;
}

// bind_device bind mounts the host's node path at the same path in the
// root.
static void bind_device(struct crisp_init *in, const struct crisp_op *op, const char *path)
{
	char buf[32];
	int target = open_target(in, path, 0);

	if (target < 0)
		crisp_op_fail(in, op, errno, "mount target");
	if (mount(path, fd_path(target, buf), NULL, MS_BIND, NULL) < 0)
		crisp_op_fail(in, op, errno, "bind");
	close(target);
}

static void mknod_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *path = crisp_arg(in, op, 0);
	mode_t mode = crisp_arg_uint(in, op, 1);
	dev_t dev = makedev(crisp_arg_uint(in, op, 2), crisp_arg_uint(in, op, 3));
	uid_t uid = crisp_arg_int(in, op, 4);
	gid_t gid = crisp_arg_int(in, op, 5);
	char dir[4096];
	const char *name = split_path(in, op, path, dir);
	int parent = mkdir_all_in_root(in, dir, 0755);

	if (parent < 0)
		crisp_op_fail(in, op, errno, "open %s", dir);
	unlinkat(parent, name, 0);
	if (mknodat(parent, name, mode, dev) < 0) {
		// The cgroup's device rules may deny mknod of this node: like
		// runc, bind mount the host's node; the rules still decide
		// whether it can be opened.
		if (errno == EPERM) {
			close(parent);
			bind_device(in, op, path);
			return;
		}
		crisp_op_fail(in, op, errno, "mknod");
	}
	// mknod applies the umask: set the mode exactly.
	if (fchmodat(parent, name, mode & 07777, 0) < 0)
		crisp_op_fail(in, op, errno, "chmod");
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		crisp_op_fail(in, op, errno, "chown");
	close(parent);
}

static void symlink_in_root(struct crisp_init *in, const struct crisp_op *op)
{
	const char *target = crisp_arg(in, op, 0), *path = crisp_arg(in, op, 1);
	char dir[4096];
	const char *name = split_path(in, op, path, dir);
	int parent = open_in_root(in, dir, O_DIRECTORY);

	if (parent < 0)
		crisp_op_fail(in, op, errno, "open %s", dir);
	if (symlinkat(target, parent, name) < 0 && errno != EEXIST)
		crisp_op_fail(in, op, errno, "symlink");
	close(parent);
}

// pivot makes rootfs the root and detaches the old one, without a
// temporary directory: pivot_root(".", ".") stacks the old root on the new.
static int pivot(const char *rootfs)
{
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC), newroot, err = -1;

	if (oldroot < 0)
		return -1;
	newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		goto out;
	if (fchdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || fchdir(oldroot) < 0)
		goto out;
	// Never let the unmount propagate to the host.
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		goto out;
	err = 0;
out:
	if (newroot >= 0) {
		int saved = errno;
		close(newroot);
		errno = saved;
	}
	{
		int saved = errno;
		close(oldroot);
		errno = saved;
	}
	return err;
}

// move_root moves rootfs over / and chroots into it, for roots that cannot
// be pivoted (the initial ramfs) or when the caller asks for no pivot.
static int move_root(const char *rootfs)
{
	if (chdir(rootfs) < 0 || mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return -1;
	return 0;
}

// detach_root takes the container's mounts out of a mount namespace that is
// not the container's: the process's root becomes a clone of the tree, not
// attached to any namespace, and the tree itself is detached. A lazy
// unmount alone would disconnect the submounts; the clone's stay connected
// when its handle closes, and live as long as the processes rooted in them.
static void detach_root(struct crisp_init *in, const struct crisp_op *op)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

	if (fd < 0)
		crisp_op_fail(in, op, errno, "open_tree");
	if (umount2("/", MNT_DETACH) < 0) {
		int err = errno;
		close(fd);
		crisp_op_fail(in, op, err, "detach");
	}
	in->shared_root = NULL;
	if (fchdir(fd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		int err = errno;
		close(fd);
		crisp_op_fail(in, op, err, "enter the clone");
	}
	close(fd);
}

// mask_path hides path: a directory under an empty read-only tmpfs,
// anything else under /dev/null. A missing path needs no hiding.
static void mask_path(struct crisp_init *in, const struct crisp_op *op)
{
	const char *path = crisp_arg(in, op, 0);
	struct stat st;
	int err;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return;
		crisp_op_fail(in, op, errno, "stat");
	}
	if (S_ISDIR(st.st_mode))
		err = mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0");
	else
		err = mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (err < 0)
		crisp_op_fail(in, op, errno, "mount");
}

// readonly_path makes path read-only with a bind mount over itself.
static void readonly_path(struct crisp_init *in, const struct crisp_op *op)
{
	const char *path = crisp_arg(in, op, 0);

	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		crisp_op_fail(in, op, errno, "bind");
	}
	if (remount(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0)
		crisp_op_fail(in, op, errno, "remount");
}

void crisp_rootfs_op(struct crisp_init *in, const struct crisp_op *op)
{
	switch (op->code) {
	case CRISP_OP_MOUNT: {
		const char *src = crisp_arg(in, op, 0), *target = crisp_arg(in, op, 1), *type = crisp_arg(in, op, 2);
		const char *data = crisp_arg(in, op, 4);
		if (mount(src, target, *type ? type : NULL, crisp_arg_uint(in, op, 3), *data ? data : NULL) < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_OPEN_ROOT:
		if (in->rootfd >= 0)
			close(in->rootfd);
		in->rootfd = open(crisp_arg(in, op, 0), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (in->rootfd < 0)
			crisp_op_fail(in, op, errno, "open");
		break;
	case CRISP_OP_MOUNT_IN_ROOT:
		mount_in_root(in, op);
		break;
	case CRISP_OP_BIND_IN_ROOT:
		bind_in_root(in, op);
		break;
	case CRISP_OP_REMOUNT_IN_ROOT:
		at_mount(in, op, crisp_arg(in, op, 0), crisp_arg_uint(in, op, 1), 0);
		break;
	case CRISP_OP_PROPAGATE_IN_ROOT:
		at_mount(in, op, crisp_arg(in, op, 0), crisp_arg_uint(in, op, 1), 1);
		break;
	case CRISP_OP_SETATTR_IN_ROOT:
		setattr_in_root(in, op);
		break;
	case CRISP_OP_MKNOD_IN_ROOT:
		mknod_in_root(in, op);
		break;
	case CRISP_OP_BIND_DEVICE:
		bind_device(in, op, crisp_arg(in, op, 0));
		break;
	case CRISP_OP_SYMLINK_IN_ROOT:
		symlink_in_root(in, op);
		break;
	case CRISP_OP_PIVOT_ROOT: {
		const char *rootfs = crisp_arg(in, op, 0);
		int err;
		if (in->rootfd >= 0) {
			close(in->rootfd);
			in->rootfd = -1;
		}
		switch (crisp_arg_int(in, op, 1)) {
		case 0:
			if ((err = pivot(rootfs)) < 0 && errno == EINVAL)
				err = move_root(rootfs); // the initial ramfs cannot be pivoted away from
			break;
		case 1:
			err = move_root(rootfs);
			break;
		default:
			// The mount namespace is not the container's: its root
			// stays, the container's is only the process's.
			err = chdir(rootfs) < 0 || chroot(".") < 0 || chdir("/") < 0 ? -1 : 0;
			if (!err && in->shared_root)
				in->shared_root = "/";
		}
		if (err < 0)
			crisp_op_fail(in, op, errno, NULL);
		break;
	}
	case CRISP_OP_SHARED_ROOT: {
		// Private, so that nothing mounted in the container appears
		// anywhere else in the namespace, and nothing comes in.
		const char *rootfs = crisp_arg(in, op, 0);
		if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			crisp_op_fail(in, op, errno, "bind");
		in->shared_root = rootfs;
		if (mount("", rootfs, NULL, MS_PRIVATE | MS_REC, NULL) < 0)
			crisp_op_fail(in, op, errno, "make private");
		break;
	}
	case CRISP_OP_DETACH_ROOT:
		detach_root(in, op);
		break;
	case CRISP_OP_ATTACH_ROOT: {
		// The parent's copy of the rootfs: stacked on /, where the
		// init can always name it, and reached through the working
		// directory (a lookup of / never crosses into it) until
		// pivot_root makes it the root.
		int fd = (int)crisp_arg_int(in, op, 0);
		if (fchdir(fd) < 0)
			crisp_op_fail(in, op, errno, "enter");
		if (syscall(SYS_move_mount, fd, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
			crisp_op_fail(in, op, errno, "move_mount");
		close(fd);
		break;
	}
	case CRISP_OP_ATTACH_IN_ROOT:
		attach_in_root(in, op);
		break;
	case CRISP_OP_MASK_PATH:
		mask_path(in, op);
		break;
	case CRISP_OP_READONLY_PATH:
		readonly_path(in, op);
		break;
	case CRISP_OP_REMOUNT:
		if (remount(crisp_arg(in, op, 0), crisp_arg_uint(in, op, 1)) < 0)
			crisp_op_fail(in, op, errno, "remount");
		break;
	}
}
