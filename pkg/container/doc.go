// Package container owns CRI containers: their persistent records, their
// writable layers and bundles, and their lifecycle on crisp's in-process OCI
// executor (pkg/oci). A container joins its pod's pinned network, IPC and
// UTS namespaces (and PID namespace when the pod shares one) and gets its
// own mount, cgroup and, usually, PID namespace, in a cgroup below the
// pod's.
//
// Like pod sandboxes, every container's record is stored before any kernel
// object is made, so a restarted daemon finds every container, including
// one a crash left half-made, which it undoes. Containers outlive the
// daemon: their monitors record how they exited, and a restarted daemon
// either waits for them again or records the exit it missed.
//
// A Manager serialises the operations on one container with a per-container
// lock; readers (Get, List) only ever see complete, published records and
// never wait for an operation.
package container
