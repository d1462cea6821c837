// Package nsenter owns the first moments of every process that crisp starts
// inside a container: a C constructor that runs before the Go runtime spins
// up its threads.
//
// The kernel lets only a single-threaded process join a user or mount
// namespace, and a pid namespace applies to children only, so these steps
// cannot be done from Go. When the crisp binary is re-executed with
// _CRISP_INIT_SYNC set, the constructor
//
//  1. opens the namespace paths named by _CRISP_INIT_NS_<TYPE>,
//  2. optionally double-forks (_CRISP_INIT_DETACH) so the monitor it becomes
//     is not a child of its caller,
//  3. stays behind as the container's monitor: a subreaper that waits for
//     the container's init, stores its wait status in <state dir>/exit and
//     exits with the same code, never entering the Go runtime,
//  4. in the child (placed in the container's cgroup with CLONE_INTO_CGROUP)
//     joins the namespaces, unshares a new user namespace and waits for the
//     parent to write its id maps, unshares the other new namespaces, and
//     forks again when a pid namespace is involved,
//  5. returns, and Go's main runs pkg/oci's init in the container.
//
// Progress is reported to the parent as JSON lines on the sync socket.
// Without _CRISP_INIT_SYNC the constructor returns at once.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"
