// Package container owns CRI containers: their persistent records, their
// writable layers and bundles, and their lifecycle on crisp's in-process OCI
// executor (pkg/oci). A container joins its pod's pinned network, IPC and
// UTS namespaces (and PID namespace when the pod shares one) and gets its
// own mount, cgroup and, usually, PID namespace, in a cgroup below the
// pod's. Its OCI spec is built by pkg/oci/spec.
//
// Like pod sandboxes, every container's record is stored before any kernel
// object is made, so a restarted daemon finds every container, including
// one a crash left half-made, which it undoes. Containers outlive the
// daemon: their monitors record how they exited, and a restarted daemon
// either waits for them again or records the exit it missed. A container of
// an earlier boot, or whose executor state is gone, is exited with reason
// Unknown and exit code 255.
//
// The lifecycle follows containerd's CRI server. Each container's init is
// watched from Create on; its exit is recorded with reason Completed
// (code 0), Error, OOMKilled (an OOM kill in its cgroup while the init ran, as
// its monitor recorded it from the cgroup's memory.events) or
// ContainerCannotRun (the init could not execute the process). Stop sends
// the stop signal, waits for the timeout, then SIGKILLs every process of the
// container's cgroup. Stopping a created container, which never ran, kills
// its waiting init at once and records it exited with the code its monitor
// saw: nothing of a stopped pod keeps running. Remove kills what still runs
// and removes everything but the log file, which is kubelet's.
//
// A Manager serialises the operations on one container with a per-container
// lock; readers (Get, List) only ever see complete, published records and
// never wait for an operation. ExecSync takes no lock, so that probes run
// while other operations wait.
package container
