// Package cgroups owns crisp's cgroup v2 subtrees: opening the unified
// hierarchy, creating a pod's cgroup below the parent kubelet names and one
// child cgroup per container (through plain cgroupfs writes or through
// systemd transient units), translating OCI resources into cgroup v2
// interface files, live updates, statistics, OOM detection, freezing,
// killing and leak-free removal.
//
// Every cgroup operation in crisp goes through this package: the CRI layer
// and the OCI executor share one code path. The resource language is the OCI
// runtime-spec's LinuxResources (pkg/oci/spec converts kubelet's
// LinuxContainerResources into it); the package knows nothing of CRI, so
// that `crisp oci` links no CRI or gRPC code.
//
// Only cgroup v2 is supported. On a v1 or hybrid host crisp refuses to start
// unless it is pointed at a cgroup2 mount found elsewhere (for example
// /sys/fs/cgroup/unified); then limits for controllers that mount lacks are
// rejected, or skipped with a warning when the MissingWarn policy is chosen.
package cgroups
