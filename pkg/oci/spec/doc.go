// Package spec owns the translation of a CRI container into the OCI runtime
// spec that crisp's executor (pkg/oci) runs: process (args, env, working
// directory, user and groups resolved in the image's /etc/passwd and
// /etc/group), namespaces joined from the pod sandbox, mounts, devices,
// capabilities, seccomp, masked and read-only paths, cgroup resources and
// the annotations that tools use to recognise a CRI container.
//
// Build does what containerd's and CRI-O's container creation do with the
// same request, so that a Kubernetes admin gets the container they expect.
// It checks the request as it goes and names the offending CRI field in
// its errors (errdefs.InvalidField), and it emits only what pkg/oci
// accepts. It reads the host (device nodes, mount sources, the running
// kernel's capabilities) and the container's rootfs, but changes nothing.
//
// The stop signal is not part of an OCI spec: StopSignal computes it from
// the same inputs.
package spec
