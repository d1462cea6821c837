// Package nsenter owns every process that crisp starts for a container or a
// pod, from its first instruction: a C constructor that runs before the Go
// runtime spins up its threads, and never lets it start. These processes
// cost a few pages of memory and no Go start-up.
//
// The kernel lets only a single-threaded process join a user or mount
// namespace, and a pid namespace applies to children only, so these steps
// cannot be done from Go. When the crisp binary is re-executed with
// _CRISP_INIT_SYNC set, the constructor (nsenter.c)
//
//  1. opens the namespace paths named by _CRISP_INIT_NS_<TYPE>,
//  2. optionally double-forks (_CRISP_INIT_DETACH) so the monitor it becomes
//     is not a child of its caller,
//  3. stays behind as the container's monitor (monitor.c): a subreaper that
//     waits for the container's init, stores its wait status in
//     <state dir>/exit, writes the container's output to its log in the
//     kubelet's CRI format when _CRISP_INIT_LOG names one (logs.c), and
//     exits with the init's code,
//  4. in the child (placed in the container's cgroup with CLONE_INTO_CGROUP,
//     non-dumpable while it holds host descriptors) joins the namespaces,
//     unshares a new user namespace and waits for the parent to write its
//     id maps, unshares the other new namespaces, and forks again when a
//     pid namespace is involved,
//  5. reads the program its parent compiled from the spec (decoded by
//     decode.h, which pkg/oci's FuzzDecode runs through
//     pkg/oci/internal/progdecode) and carries it
//     out (program.c, rootfs.c, process.c, hooks.c, fds.c): the root file
//     system, hooks, terminal, limits, seccomp, credentials, the wait for
//     start, and execve of the container's process.
//
// The operations and their arguments are defined in init.h; Go reads the
// same constants (ops.go). Messages are assembled with the bounded string
// builder of strbuf.c. Progress is reported to the parent as JSON lines
// on the sync socket. With _CRISP_REAPER set the process is instead a pod's
// reaper (reaper.c). Without either the constructor returns at once, so the
// daemon and every other crisp command are unaffected.
package nsenter

/*
#cgo CFLAGS: -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Wall -Wextra -Werror -Wformat=2 -Wformat-security
*/
import "C"
