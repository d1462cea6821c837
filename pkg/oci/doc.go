// Package oci owns crisp's in-process OCI executor: it runs containers from
// an OCI runtime-spec bundle without a runc, crun or shim binary.
//
// A Runtime keeps each container's state under its root directory
// (<root>/<id>/state.json), so that any process, not only the one that
// created a container, can start, signal, inspect and delete it.
//
// Containers are started by re-executing the crisp binary. The C constructor
// in pkg/oci/nsenter runs before Go's runtime: it becomes the container's
// monitor (a tiny subreaper that records the exit status in
// <root>/<id>/exit), and in a child joins and creates the namespaces. The
// child then carries out the program the parent compiled from the spec (the
// root file system, the process attributes, seccomp), waits for Start on
// <root>/<id>/exec.fifo and executes the container's process: a container
// never starts the Go runtime. docs/oci.md describes the design.
package oci
